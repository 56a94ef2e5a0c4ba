// `logfs sources`, `logfs tenants` and `logfs cat`: the minimal read path over the server's HTTP API.
import { InputError, formatBytes, formatDuration, formatTime, printable } from '../util/units'
import { tokenFrom } from './options'
import type { SourceInfo } from '../store/log-store'
import type { TenantRow } from '../server/tenants'

export interface ReadFlags { server: string, token?: string, json?: boolean, source?: string }

function httpBase (server: string): URL {
  let url: URL
  try {
    url = new URL(server)
  } catch {
    throw new InputError(`--server: '${server}' is not a URL (example: http://127.0.0.1:7070)`)
  }
  url.protocol = url.protocol === 'wss:' || url.protocol === 'https:' ? 'https:' : 'http:'
  url.pathname = '/'
  return url
}

export async function get (f: ReadFlags, path: string, params: Record<string, string>): Promise<Response> {
  const url = new URL(path, httpBase(f.server))
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v)
  let res: Response
  try {
    res = await fetch(url, { headers: { authorization: `Bearer ${tokenFrom(f)}` } })
  } catch (err) {
    const e = err as Error & { cause?: Error }
    throw new Error(`cannot reach ${url.origin}: ${e.cause?.message ?? e.message}`)
  }
  if (!res.ok) {
    // logfs's endpoints answer {"error": ...}; Loki's, plain text.
    const text = (await res.text().catch(() => '')).trim()
    let message = text || res.statusText
    try { message = (JSON.parse(text) as { error?: string }).error ?? message } catch {}
    const err = new Error(`${res.status}: ${message}`)
    throw res.status >= 400 && res.status < 500 && res.status !== 401 ? new InputError(err.message) : err
  }
  return res
}

export async function sourcesCommand (f: ReadFlags): Promise<void> {
  const params: Record<string, string> = f.source ? { source: f.source } : {}
  const { sources } = await (await get(f, '/v1/sources', params)).json() as { sources: SourceInfo[] }
  if (f.json) {
    process.stdout.write(JSON.stringify(sources) + '\n')
    return
  }
  const rows = [['NODE', 'TENANT', 'PATH', 'SIZE', 'LAST WRITE', 'DROPPED'], ...sources.map(s =>
    [s.node, s.tenant, printable(s.path), formatBytes(s.bytes), formatTime(s.lastWrite),
      s.gapBytes > 0 ? formatBytes(s.gapBytes) : '-'])]
  printTable(rows)
}

export async function tenantsCommand (f: ReadFlags): Promise<void> {
  const { tenants } = await (await get(f, '/v1/tenants', {})).json() as { tenants: TenantRow[] }
  if (f.json) {
    process.stdout.write(JSON.stringify(tenants) + '\n')
    return
  }
  const of = (used: string, limit: number | null, fmt: (n: number) => string): string =>
    limit === null ? used : `${used} / ${fmt(limit)}`
  const rate = (n: number): string => `${formatBytes(n)}/s`
  const rows = [['TENANT', 'INGEST 1m / LIMIT', 'STORED / RETENTION', 'OLDEST / AGE LIMIT', 'SOURCES', 'THROTTLED',
    'QUEUED'], ...tenants.map(t => [
    t.tenant,
    of(rate(t.ingest.bytesPerSec), t.ingest.limit, rate),
    of(formatBytes(t.stored.bytes), t.stored.retentionBytes, formatBytes),
    `${t.stored.oldest === null ? '-' : formatTime(t.stored.oldest)} / ${formatDuration(t.stored.retentionAgeMs)}`,
    of(String(t.sources.count), t.sources.limit, String),
    `${t.throttledSeconds} s`,
    `${t.queries.queued} (${t.queries.limit} at once)`,
  ])]
  printTable(rows)
}

function printTable (rows: string[][]): void {
  const widths = rows[0].map((_, i) => Math.max(...rows.map(r => r[i].length)))
  for (const r of rows) process.stdout.write(r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd() + '\n')
}

/** Streams a source's bytes to stdout page by page, so large sources need no large buffers. */
export async function catCommand (source: string, f: ReadFlags & { from?: string }): Promise<void> {
  let from = f.from
  for (;;) {
    const res = await get(f, '/v1/read', { source, max: String(4 * 1024 * 1024), ...(from ? { from } : {}) })
    const data = Buffer.from(await res.arrayBuffer())
    if (data.length === 0) return
    if (!process.stdout.write(data)) await new Promise(resolve => process.stdout.once('drain', resolve))
    from = res.headers.get('logfs-next') ?? undefined
    if (!from) return
  }
}
