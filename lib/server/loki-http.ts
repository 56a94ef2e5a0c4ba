// What every route of Loki's read API shares: who the caller is (a logfs token as Bearer or as the password of
// HTTP Basic; X-Scope-OrgID narrowing what it grants), Loki's spellings of times and durations, and answers.
import type http from 'node:http'
import { Auth } from './auth'
import type { Allowed } from '../query/scope'
import type { LogStore } from '../store/log-store'
import { QueryError } from '../query/errors'
import { parseLogQL } from '../logql/parse'
import { goDurationMs } from '../logql/units'
import type { LabelMatcher, LogQuery } from '../logql/ast'

/** What a route is given: the store, who may read what, the parameters, and a gate for the routes that scan. */
export interface LokiRequest {
  store: LogStore
  allowed: Allowed
  q: URLSearchParams
  /** Runs `fn` in the query slot of the tenants of the sources `selector` picks, within their scan limit. */
  gated: <T>(selector: LabelMatcher[], fn: (scan: number | undefined) => Promise<T>) => Promise<T>
}

export const LOKI_PREFIX = '/loki/api/v1/'

export const HOUR = 3_600_000

/** The token of a request: `Authorization: Bearer <token>`, or HTTP Basic with the token as the password. */
export function requestToken (header: string | undefined): string | undefined {
  const basic = /^Basic\s+(\S+)$/i.exec(header ?? '')
  if (!basic) return Auth.bearer(header)
  const decoded = Buffer.from(basic[1], 'base64').toString('utf8')
  return decoded.slice(decoded.indexOf(':') + 1) || undefined
}

/**
 * The tenants a request may read: those its token grants, narrowed to X-Scope-OrgID's (joined by `|`) when it
 * names any; null when the token is missing or wrong.
 */
export function requestAllowed (auth: Auth, req: http.IncomingMessage): Allowed | null {
  const grant = auth.check(requestToken(req.headers.authorization))
  if (grant === null) return null
  const org = req.headers['x-scope-orgid']
  const orgs = typeof org === 'string' && org !== '' ? new Set(org.split('|')) : null
  return tenant => Auth.allows(grant, tenant) && (orgs === null || orgs.has(tenant))
}

/** The longest form body a POST may carry: a LogQL query and its parameters, not data. */
const MAX_FORM_BYTES = 1024 * 1024

/** A request Loki's API refuses before reading its parameters. */
export class RequestError extends Error {
  constructor (readonly status: number, message: string) { super(message) }
}

/**
 * A request's parameters: the URL's query string, and for a POST (which Loki takes for its read routes, and
 * Grafana sends for some) its `application/x-www-form-urlencoded` body, whose values of a name replace the URL's.
 */
export async function requestParams (req: http.IncomingMessage, url: URL): Promise<URLSearchParams> {
  if (req.method === 'GET') return url.searchParams
  if (req.method !== 'POST') throw new RequestError(405, 'only GET and POST are served here')
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase()
  if (type !== 'application/x-www-form-urlencoded' && type !== '') {
    throw new RequestError(415, `a POST body must be application/x-www-form-urlencoded, not ${type}`)
  }
  const chunks: Buffer[] = []
  let bytes = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    bytes += chunk.length
    if (bytes > MAX_FORM_BYTES) throw new RequestError(413, `a POST body may hold at most ${MAX_FORM_BYTES} bytes`)
    chunks.push(chunk)
  }
  const body = new URLSearchParams(Buffer.concat(chunks).toString('utf8'))
  const q = new URLSearchParams()
  for (const [k, v] of url.searchParams) if (!body.has(k)) q.append(k, v)
  for (const [k, v] of body) q.append(k, v)
  return q
}

/** Loki's time parameters: integer nanoseconds (or seconds, up to 10 digits), float seconds, or RFC 3339. */
export function lokiTime (q: URLSearchParams, name: string, def: number): number {
  const text = q.get(name)
  if (text === null || text === '') return def
  if (/^\d+$/.test(text)) return text.length <= 10 ? Number(text) * 1000 : Math.floor(Number(BigInt(text) / 1_000_000n))
  if (/^\d+\.\d*$/.test(text)) return Math.floor(Number(text) * 1000)
  const ms = Date.parse(text)
  if (Number.isNaN(ms)) throw new QueryError('bad-input', `${name}: '${text}' is not a time (ns, s or RFC 3339)`)
  return ms
}

/** A duration parameter: a Go duration or a number of seconds. */
export function lokiDuration (q: URLSearchParams, name: string): number | null {
  const text = q.get(name)
  if (text === null || text === '') return null
  const ms = /^\d+(\.\d+)?$/.test(text) ? Number(text) * 1000 : goDurationMs(text)
  if (ms === null || ms <= 0) throw new QueryError('bad-input', `${name}: '${text}' is not a positive duration`)
  return ms
}

/** `start` and `end` (or `since` before the end), `span` before the end by default. */
export function lokiRange (q: URLSearchParams, span: number): { start: number, end: number } {
  const end = lokiTime(q, 'end', Date.now())
  const start = lokiTime(q, 'start', end - (lokiDuration(q, 'since') ?? span))
  if (start > end) throw new QueryError('bad-input', 'the start is after the end')
  return { start, end }
}

/** The step of a range over [start, end]: `step`, or about 250 points, a whole number of seconds. */
export function lokiStep (q: URLSearchParams, start: number, end: number): number {
  return lokiDuration(q, 'step') ?? Math.max(1000, Math.ceil((end - start) / 250 / 1000) * 1000)
}

/** A whole-number parameter from 1 to `max`. */
export function lokiCount (q: URLSearchParams, name: string, def: number, max: number): number {
  const text = q.get(name) ?? String(def)
  const n = Number(text)
  if (!/^\d+$/.test(text) || n < 1 || n > max) {
    throw new QueryError('bad-input', `${name} must be a whole number from 1 to ${max}`)
  }
  return n
}

export function send (res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' })
  res.end(JSON.stringify(body) + '\n')
}

/** The `query` parameter every route that selects streams takes. */
export function queryParam (q: URLSearchParams): string {
  const text = q.get('query')
  if (!text) throw new QueryError('bad-input', 'parameter query is required')
  return text
}

/** A log query (a selector and its pipeline), as tail and the detected_* routes take; `what` names the route. */
export function logQueryOnly (params: URLSearchParams, what: string): LogQuery {
  const text = queryParam(params)
  const q = parseLogQL(text)
  if (q.kind !== 'log') throw new QueryError('bad-input', `${what} takes a log query such as {app="x"}, not ${text}`)
  return q
}

/** The stream selector a labels, series or index request gives: a log query without a pipeline. */
export function selectorOnly (text: string): LabelMatcher[] {
  const q = parseLogQL(text)
  if (q.kind !== 'log') throw new QueryError('bad-input', `expected a stream selector such as {app="x"}, not ${text}`)
  return q.selector
}
