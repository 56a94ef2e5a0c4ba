// The server's HTTP API: probes, metrics, and the read and query endpoints, each scoped to the tenants the
// caller's token grants. Responses are JSON, except raw bytes for /v1/read and Server-Sent Events for follow.
import type http from 'node:http'
import { Auth } from './auth'
import type { LogStore } from '../store/log-store'
import { parseCursor, formatCursor, type Cursor } from '../store/source'
import { InputError, parseTime } from '../util/units'
import { QueryError, type QueryErrorKind } from '../query/errors'
import { checkRange, resolveSource, selectSources, sourceMatcher, type Allowed } from '../query/scope'
import { grep, type GrepResult } from '../query/grep'
import { Pace } from '../query/pace'
import { MAX_LINES } from '../query/lines'
import { context } from '../query/context'
import { lastLines } from '../query/tail'
import { buildTrace } from '../query/trace'
import { histogram } from '../query/histogram'
import { followSource, followSources } from './follow'
import { isConsolePath, serveConsole } from './console'
import type { Registry, Histogram } from '../metrics/registry'
import { log } from '../util/log'
import { CROSS_TENANT, QueryAbandoned, QueryBusy, chargedTenant, type QueryGate } from './query-gate'
import type { LimitsInForce, TenantLimits } from './limits'
import type { TenantRow } from './tenants'
import { LokiApi } from './loki-api'
import { LOKI_PREFIX } from './loki-http'
import { LokiTail } from './loki-tail'

const MAX_READ = 16 * 1024 * 1024

const STATUS: Record<QueryErrorKind, number> = { 'bad-input': 400, 'not-found': 404, gone: 410 }

type Query = URLSearchParams

function intParam (q: Query, name: string, def: number, max: number): number {
  const text = q.get(name)
  if (text === null) return def
  const n = Number(text)
  if (!/^\d+$/.test(text) || n > max) {
    throw new QueryError('bad-input', `${name} must be a whole number from 0 to ${max}`)
  }
  return n
}

function timeParam (q: Query, name: string): number | undefined {
  const text = q.get(name)
  if (text === null || text === '') return undefined
  try { return parseTime(text, name) } catch (err) { throw new QueryError('bad-input', (err as InputError).message) }
}

function cursorParam (text: string): Cursor {
  try { return parseCursor(text) } catch (err) { throw new QueryError('bad-input', (err as Error).message) }
}

function json (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...headers, 'content-type': 'application/json' })
  res.end(JSON.stringify(body) + '\n')
}

const HITS_PER_TURN = 500

/**
 * A grep's answer, as `json` would send it, serialized HITS_PER_TURN hits at a time and paced (query/pace.ts):
 * 10,000 hits are megabytes of JSON, and making them in one go held ingest up (bench:stall, the 10,000-hit row).
 */
async function sendHits (res: http.ServerResponse, result: GrepResult): Promise<void> {
  const { hits, ...rest } = result
  const pace = new Pace()
  res.writeHead(200, { 'content-type': 'application/json' })
  res.write('{"hits":[')
  for (let i = 0; i < hits.length; i += HITS_PER_TURN) {
    if (i > 0) await pace.turn()
    res.write((i > 0 ? ',' : '') + hits.slice(i, i + HITS_PER_TURN).map(h => JSON.stringify(h)).join(','))
  }
  res.end(`],${JSON.stringify(rest).slice(1)}\n`)
}

export class HttpApi {
  private readonly queryLatency: (labels?: Record<string, string>) => Histogram
  private readonly loki: LokiApi
  /** Loki's tail, a WebSocket: the server hands it the upgrades to its path. */
  readonly lokiTail: LokiTail

  constructor (private readonly store: LogStore, private readonly auth: Auth, private readonly metrics: Registry,
    private readonly tenants: (allowed: Allowed) => TenantRow[], private readonly gate: QueryGate,
    private readonly limits: LimitsInForce, private readonly unready: () => string | null) {
    this.queryLatency = metrics.histogram('logfs_query_duration_seconds', 'Time to answer a query, by endpoint.',
      ['endpoint'])
    this.loki = new LokiApi(store, auth, (allowed, pick, res, fn) => this.gated(allowed, pick, res, fn))
    this.lokiTail = new LokiTail(store, auth, (allowed, pick, signal, fn) => this.gatedUntil(allowed, pick, signal, fn))
  }

  /** Answers one request; never rejects (an error becomes its response). */
  async handle (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x')
    if (url.pathname === '/healthz') return json(res, 200, { ok: true })
    if (url.pathname === '/readyz') {
      const reason = this.unready()
      return json(res, reason === null ? 200 : 503, reason === null ? { ready: true } : { ready: false, reason })
    }
    if (isConsolePath(url.pathname)) {
      if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { error: 'only GET is served here' })
      return serveConsole(url.pathname, res)
    }
    if (url.pathname === '/metrics') {
      this.metrics.serve(res)
      return
    }
    if (url.pathname.startsWith(LOKI_PREFIX)) {
      return await this.loki.handle(req, res, url).catch(err => this.failed(req, url, res, err))
    }
    const grant = this.auth.check(Auth.bearer(req.headers.authorization))
    if (grant === null) return json(res, 401, { error: 'missing or wrong token' })
    if (req.method !== 'GET') return json(res, 405, { error: 'only GET is served here' })
    const allowed: Allowed = tenant => Auth.allows(grant, tenant)
    const started = process.hrtime.bigint()
    const q = url.searchParams
    try {
      switch (url.pathname) {
        case '/v1/sources': {
          const match = sourceMatcher(q.get('source'))
          const sources = await this.store.query(() => this.store.listSources(allowed))
          json(res, 200, { sources: sources.filter(s => match(s.source)) })
          break
        }
        case '/v1/tenants':
          json(res, 200, { tenants: await this.store.query(() => this.tenants(allowed)) })
          break
        case '/v1/read':
          await this.read(allowed, q, res)
          break
        case '/v1/grep': {
          const since = timeParam(q, 'since')
          const until = timeParam(q, 'until')
          const query = {
            pattern: q.get('q') ?? '',
            regex: q.get('regex') === '1',
            ignoreCase: q.get('i') === '1',
            word: q.get('w') === '1',
            since,
            until,
            limit: Math.max(1, intParam(q, 'limit', 100, MAX_LINES)),
          }
          await sendHits(res, await this.gated(allowed, q.get('source'), res, l => this.store.query(() => {
            checkRange(this.store, since, until)
            return grep(this.store, selectSources(this.store, allowed, q.get('source')), { ...query, scan: l.scan })
          })))
          break
        }
        case '/v1/context': {
          const at = cursorParam(q.get('cursor') ?? '')
          const before = intParam(q, 'before', 10, MAX_LINES)
          const after = intParam(q, 'after', 10, MAX_LINES)
          json(res, 200, await this.gated(allowed, q.get('source'), res, () => this.store.query(() => {
            const s = resolveSource(this.store, allowed, q.get('source'))
            const found = context(s, at, before, after)
            if (!found) {
              throw new QueryError('not-found', `cursor ${q.get('cursor')} is not a retained byte of ${s.source}`)
            }
            return found
          })))
          break
        }
        case '/v1/trace': {
          const id = q.get('id')
          if (!id) throw new QueryError('bad-input', 'parameter id is required')
          const trace = await this.gated(allowed, null, res,
            l => this.store.query(() => buildTrace(this.store, id, allowed, l.scan)))
          if (!trace) throw new QueryError('not-found', `no lines of trace ${id}`)
          json(res, 200, trace)
          break
        }
        case '/v1/histogram': {
          const since = timeParam(q, 'since')
          const until = timeParam(q, 'until')
          const buckets = Math.max(1, intParam(q, 'buckets', 60, 1000))
          json(res, 200, await this.gated(allowed, q.get('source'), res, () => this.store.query(() =>
            histogram(this.store, selectSources(this.store, allowed, q.get('source')), buckets, since, until))))
          break
        }
        case '/v1/tail':
          return await this.tail(allowed, q, req, res)
        default:
          return json(res, 404, { error: `no such endpoint ${url.pathname}` })
      }
      const endpoint = url.pathname.replace(/^\/v1\//, '')
      this.queryLatency({ endpoint }).observe(Number(process.hrtime.bigint() - started) / 1e9)
    } catch (err) {
      this.failed(req, url, res, err)
    }
  }

  /** The response to a query that failed. */
  private failed (req: http.IncomingMessage, url: URL, res: http.ServerResponse, err: unknown): void {
    if (err instanceof QueryError) return json(res, STATUS[err.kind], { error: err.message })
    if (err instanceof QueryAbandoned) return
    if (err instanceof QueryBusy) {
      return json(res, 429, { error: err.message }, { 'retry-after': String(err.retryAfterSeconds) })
    }
    log('error', 'server', `${req.method} ${url.pathname}: ${(err as Error).stack ?? String(err)}`)
    json(res, 500, { error: (err as Error).message })
  }

  private async read (allowed: Allowed, q: Query, res: http.ServerResponse): Promise<void> {
    const from = q.get('from') ? cursorParam(q.get('from')!) : null
    const max = intParam(q, 'max', MAX_READ, MAX_READ)
    const { s, data, next } = await this.gated(allowed, q.get('source'), res, () => this.store.query(() => {
      const s = resolveSource(this.store, allowed, q.get('source'))
      return { s, ...this.store.read(s.source, from, Math.max(1, max)) }
    }))
    // Header values must be Latin-1 without control characters; a source name is any UTF-8 path.
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'logfs-next': next ? formatCursor(next) : '',
      'logfs-source': encodeURIComponent(s.source),
    })
    res.end(data)
  }

  /** The last `lines` lines of a source as JSON; with follow=1, Server-Sent Events (of every source a glob matches). */
  private async tail (allowed: Allowed, q: Query, req: http.IncomingMessage, res: http.ServerResponse):
    Promise<void> {
    const glob = q.get('glob')
    if (glob !== null) {
      if (q.get('follow') !== '1') {
        throw new QueryError('bad-input', 'glob is only for follow=1; name one source to tail it')
      }
      const match = sourceMatcher(glob)
      const known = await this.store.query(() => selectSources(this.store, allowed, glob))
      return await followSources(this.store, known, s => allowed(s.tenant) && match(s.source), req, res)
    }
    const n = intParam(q, 'lines', 10, MAX_LINES)
    if (q.get('follow') === '1') {
      const s = await this.store.query(() => resolveSource(this.store, allowed, q.get('source')))
      return await followSource(this.store, s, n, req, res)
    }
    json(res, 200, await this.gated(allowed, q.get('source'), res, () => this.store.query(() => {
      const s = resolveSource(this.store, allowed, q.get('source'))
      return { source: s.source, lines: lastLines(s, n) }
    })))
  }

  /**
   * Runs a query in a slot of the tenant it is charged to (query-gate.ts): the tenants of the sources the caller
   * may see that `glob` picks, as the index stands now. `fn` gets that tenant's limits. Follow streams take no
   * slot: they read the last lines, then what is appended as it is appended, and a slot held for a stream's life
   * would let a few open `tail -f` lock their tenant out of every other query.
   */
  private async gated<T> (allowed: Allowed, glob: string | null | ((source: string) => boolean),
    res: http.ServerResponse, fn: (l: TenantLimits) => Promise<T>): Promise<T> {
    // A response closed before it was answered is a caller that gave up: its query leaves the queue.
    const gone = new AbortController()
    const onClose = (): void => gone.abort()
    res.once('close', onClose)
    try {
      return await this.gatedUntil(allowed, typeof glob === 'function' ? glob : sourceMatcher(glob), gone.signal, fn)
    } finally {
      res.off('close', onClose)
    }
  }

  /** `gated` for a caller that is not an HTTP response (a WebSocket): `signal` says it gave up. */
  private async gatedUntil<T> (allowed: Allowed, match: (source: string) => boolean, signal: AbortSignal,
    fn: (l: TenantLimits) => Promise<T>): Promise<T> {
    const tenants = new Set<string>()
    for (const s of this.store.allSources()) if (allowed(s.tenant) && match(s.source)) tenants.add(s.tenant)
    const tenant = chargedTenant(tenants)
    return await this.gate.run(tenant, () => fn(this.limits.for(tenant ?? CROSS_TENANT)), signal)
  }
}
