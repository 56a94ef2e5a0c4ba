// The server's HTTP API: probes, metrics, and the read and query endpoints, each scoped to the tenants the
// caller's token grants. Responses are JSON, except raw bytes for /v1/read and Server-Sent Events for follow.
import type http from 'node:http'
import { Auth, type Grant } from './auth'
import type { Store } from '../store/store'
import { parseCursor, formatCursor, type Cursor, type SourceIndex } from '../store/source'
import { globToRegExp } from '../util/glob'
import { splitSource } from '../util/sources'
import { InputError, formatTime, parseTime } from '../util/units'
import { grep, QueryError } from '../query/grep'
import { lineAt, lineStart, linesBefore, linesFrom, toLines } from '../query/lines'
import { buildTrace } from '../query/trace'
import type { Registry, Histogram } from '../metrics/registry'
import { log } from '../util/log'

const MAX_READ = 16 * 1024 * 1024
const MAX_LINES = 10_000

type Query = URLSearchParams

function intParam (q: Query, name: string, def: number, max: number): number {
  const text = q.get(name)
  if (text === null) return def
  const n = Number(text)
  if (!/^\d+$/.test(text) || n > max) throw new QueryError(400, `${name} must be a whole number from 0 to ${max}`)
  return n
}

function timeParam (q: Query, name: string): number | undefined {
  const text = q.get(name)
  if (text === null || text === '') return undefined
  try { return parseTime(text, name) } catch (err) { throw new QueryError(400, (err as InputError).message) }
}

/** A glob names a source by its full name or by its path under the mount (the name without its node). */
function matcher (glob: string | null): (source: string) => boolean {
  if (!glob) return () => true
  const re = globToRegExp(glob)
  return source => re.test(source) || re.test(splitSource(source).path)
}

export class HttpApi {
  private readonly queryLatency: (labels?: Record<string, string>) => Histogram

  constructor (private readonly store: Store, private readonly auth: Auth, metrics: Registry, private readonly ready: () => boolean) {
    this.queryLatency = metrics.histogram('logfs_query_duration_seconds', 'Time to answer a query, by endpoint.')
    this.metrics = metrics
  }

  private readonly metrics: Registry

  /** Sources the grant covers whose name or path matches `glob` (all when no glob). */
  private select (grant: Grant, glob: string | null): SourceIndex[] {
    const match = matcher(glob)
    const out: SourceIndex[] = []
    for (const s of this.store.allSources()) if (Auth.allows(grant, s.tenant) && match(s.source)) out.push(s)
    return out.sort((a, b) => a.source.localeCompare(b.source))
  }

  /** A source by full name, or by its path under the mount when that names exactly one source. */
  private resolve (grant: Grant, name: string | null): SourceIndex {
    if (!name) throw new QueryError(400, 'parameter source is required')
    const exact = this.store.source(name)
    if (exact && Auth.allows(grant, exact.tenant)) return exact
    const matches = this.select(grant, null).filter(s => s.source.endsWith('/' + name))
    if (matches.length === 1) return matches[0]
    if (matches.length > 1) throw new QueryError(400, `source ${name} is ambiguous: ${matches.map(s => s.source).join(', ')}`)
    throw new QueryError(404, `unknown source ${name}`)
  }

  /** Refuses a time range that ends before the oldest byte retention kept. */
  private checkRange (since: number | undefined, until: number | undefined): void {
    if (since !== undefined && until !== undefined && since > until) throw new QueryError(400, 'since is after until')
    const oldest = this.store.oldest()
    if (until !== undefined && oldest !== null && until < oldest) {
      throw new QueryError(410, `the range ends before the oldest retained data (${formatTime(oldest)}): retention has removed it`)
    }
  }

  handle (req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x')
    const json = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' })
      res.end(JSON.stringify(body) + '\n')
    }
    if (url.pathname === '/healthz') return json(200, { ok: true })
    if (url.pathname === '/readyz') return this.ready() ? json(200, { ready: true }) : json(503, { ready: false })
    if (url.pathname === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' })
      res.end(this.metrics.render())
      return
    }
    const grant = this.auth.check(Auth.bearer(req.headers.authorization))
    if (grant === null) return json(401, { error: 'missing or wrong token' })
    if (req.method !== 'GET') return json(405, { error: 'only GET is served here' })
    const started = process.hrtime.bigint()
    const q = url.searchParams
    const kind = url.pathname.replace(/^\/v1\//, '')
    try {
      switch (url.pathname) {
        case '/v1/sources': {
          const list = this.store.listSources(t => Auth.allows(grant, t))
          const match = matcher(q.get('source'))
          json(200, { sources: list.filter(s => match(s.source)) })
          break
        }
        case '/v1/read': {
          const s = this.resolve(grant, q.get('source'))
          const from = q.get('from') ? this.cursor(q.get('from')!) : null
          const max = intParam(q, 'max', MAX_READ, MAX_READ)
          const { data, next } = this.store.read(s.source, from, Math.max(1, max))
          // Header values must be Latin-1 without control characters; a source name is any UTF-8 path.
          res.writeHead(200, {
            'content-type': 'application/octet-stream',
            'logfs-next': next ? formatCursor(next) : '',
            'logfs-source': encodeURIComponent(s.source),
          })
          res.end(data)
          break
        }
        case '/v1/grep': {
          const since = timeParam(q, 'since')
          const until = timeParam(q, 'until')
          this.checkRange(since, until)
          const result = grep(this.select(grant, q.get('source')), {
            pattern: q.get('q') ?? '',
            regex: q.get('regex') === '1',
            ignoreCase: q.get('i') === '1',
            since,
            until,
            limit: Math.max(1, intParam(q, 'limit', 100, MAX_LINES)),
          })
          json(200, result)
          break
        }
        case '/v1/context': {
          const s = this.resolve(grant, q.get('source'))
          const pos = s.logicalOf(this.cursor(q.get('cursor') ?? ''))
          if (pos === null) throw new QueryError(404, `cursor ${q.get('cursor')} is not a retained byte of ${s.source}`)
          const start = lineStart(s, pos)
          const before = intParam(q, 'before', 10, MAX_LINES)
          const after = intParam(q, 'after', 10, MAX_LINES)
          const [hit, ...rest] = linesFrom(s, start, after + 1)
          json(200, {
            source: s.source,
            before: toLines(s, linesBefore(s, start, before)),
            hit: toLines(s, hit ? [hit] : [])[0] ?? null,
            after: toLines(s, rest),
          })
          break
        }
        case '/v1/trace': {
          const id = q.get('id')
          if (!id) throw new QueryError(400, 'parameter id is required')
          const trace = buildTrace(this.store, id, t => Auth.allows(grant, t))
          if (!trace) throw new QueryError(404, `no lines of trace ${id}`)
          json(200, trace)
          break
        }
        case '/v1/tail':
          return this.tail(grant, q, req, res)
        default:
          json(404, { error: `no such endpoint ${url.pathname}` })
          return
      }
      this.queryLatency({ endpoint: kind }).observe(Number(process.hrtime.bigint() - started) / 1e9)
    } catch (err) {
      if (err instanceof QueryError) return json(err.status, { error: err.message })
      log('error', 'server', `${req.method} ${url.pathname}: ${(err as Error).stack ?? String(err)}`)
      json(500, { error: (err as Error).message })
    }
  }

  private cursor (text: string): ReturnType<typeof parseCursor> {
    try { return parseCursor(text) } catch (err) { throw new QueryError(400, (err as Error).message) }
  }

  /** The last `lines` lines; with follow=1, then every new complete line as a Server-Sent Event. */
  private tail (grant: Grant, q: Query, req: http.IncomingMessage, res: http.ServerResponse): void {
    if (q.get('glob') !== null) return this.followMany(grant, q.get('glob')!, q, req, res)
    const s = this.resolve(grant, q.get('source'))
    const n = intParam(q, 'lines', 10, MAX_LINES)
    const follow = q.get('follow') === '1'
    if (!follow) {
      const end = s.end
      const lastStart = lineStart(s, end > 0 && s.read(end - 1, end)[0] === 10 ? end - 1 : end)
      const tailLines = lastStart < end ? [...linesBefore(s, lastStart, n - 1), { pos: lastStart, end }] : linesBefore(s, lastStart, n)
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ source: s.source, lines: toLines(s, n === 0 ? [] : tailLines.slice(-n)) }) + '\n')
      return
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' })
    const send = (spans: Array<{ pos: number, end: number }>): void => {
      for (const line of toLines(s, spans)) res.write(`event: line\ndata: ${JSON.stringify(line)}\n\n`)
    }
    // Only whole lines are sent; `next` is the cursor of the first line not sent yet. A cursor, not a logical
    // position, because retention shifts positions; a new agent generation starts after it.
    const start = lineStart(s, s.end)
    send(linesBefore(s, start, n))
    let next = s.cursorAt(start)
    const onAppend = (changed: SourceIndex): void => {
      if (changed !== s) return
      const spans = linesFrom(s, s.positionAtOrAfter(next), MAX_LINES, false)
      if (spans.length === 0) return
      send(spans)
      next = s.cursorAt(spans[spans.length - 1].end)
    }
    this.stream(req, res, onAppend)
  }

  /** Follows every source matching a glob from now on, sources that appear later included (from their start). */
  private followMany (grant: Grant, glob: string, q: Query, req: http.IncomingMessage, res: http.ServerResponse): void {
    if (q.get('follow') !== '1') throw new QueryError(400, 'glob is only for follow=1; name one source to tail it')
    const wanted = new Set(this.select(grant, glob))
    const match = matcher(glob)
    const next = new Map<SourceIndex, Cursor>()
    for (const s of wanted) next.set(s, s.cursorAt(lineStart(s, s.end)))
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' })
    const onAppend = (s: SourceIndex): void => {
      if (!wanted.has(s)) {
        if (!Auth.allows(grant, s.tenant) || !match(s.source)) return
        wanted.add(s)
      }
      const spans = linesFrom(s, next.has(s) ? s.positionAtOrAfter(next.get(s)!) : 0, MAX_LINES, false)
      if (spans.length === 0) return
      // One event per source and append, not per line: following busy sources must not cost more than storing them.
      const first = spans[0].pos
      const end = spans[spans.length - 1].end
      const block = lineAt(s, first, end)
      res.write(`event: lines\ndata: ${JSON.stringify(block)}\n\n`)
      next.set(s, s.cursorAt(end))
    }
    this.stream(req, res, onAppend)
  }

  private stream (req: http.IncomingMessage, res: http.ServerResponse, onAppend: (s: SourceIndex) => void): void {
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), 15_000)
    this.store.on('append', onAppend)
    req.on('close', () => {
      clearInterval(heartbeat)
      this.store.off('append', onAppend)
    })
    res.write(': following\n\n')
  }
}
