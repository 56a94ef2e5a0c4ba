// The console's client of the server's Loki API (docs/logql.md): query_range and query with the reader's token.
// Loki answers errors as plain text ("parse error at line 1, column 9: ..."), shown as they are.
import { Unauthorized, type Line } from './api'
import { goDurationMs } from '../../logql/units'

export type Labels = Record<string, string>
export interface LokiStream { stream: Labels, values: Array<[string, string]> }
export interface MatrixSeries { metric: Labels, values: Array<[number, string]> }
export interface VectorSample { metric: Labels, value: [number, string] }

export type LokiData =
  | { resultType: 'streams', result: LokiStream[] }
  | { resultType: 'matrix', result: MatrixSeries[] }
  | { resultType: 'vector', result: VectorSample[] }
  | { resultType: 'scalar', result: [number, string] }

/** A query error from the server, in its words (with the position, for a syntax error). */
export class QueryFailed extends Error {}

export interface LokiParams { query: string, start: number, end: number, step?: string, limit: number }

/** Loki's integer nanoseconds, for ms since the epoch. */
const ns = (ms: number): string => `${Math.round(ms)}000000`

export async function loki (token: string, instant: boolean, p: LokiParams): Promise<LokiData> {
  const q = new URLSearchParams({ query: p.query, limit: String(p.limit), direction: 'backward' })
  if (instant) {
    q.set('time', ns(p.end))
  } else {
    q.set('start', ns(p.start))
    q.set('end', ns(p.end))
    if (p.step) q.set('step', p.step)
  }
  const res = await fetch(`/loki/api/v1/${instant ? 'query' : 'query_range'}?${q}`,
    { headers: { authorization: `Bearer ${token}` } })
  if (res.status === 401) throw new Unauthorized((await res.text()).trim() || 'wrong token')
  if (!res.ok) throw new QueryFailed((await res.text()).trim() || `HTTP ${res.status}`)
  return ((await res.json()) as { data: LokiData }).data
}

/** A time field: empty for `def`, a duration back from `now` (15m, 2h), or an ISO time. */
export function timeOf (text: string, now: number, def: number): number {
  if (text === '') return def
  const ago = goDurationMs(text)
  if (ago !== null) return now - ago
  const ms = Date.parse(text)
  if (Number.isNaN(ms)) throw new QueryFailed(`'${text}' is not a duration back from now (15m, 2h) or an ISO time`)
  return ms
}

/** `{k="v", ...}`, as Loki and Grafana name a series. */
export const labelText = (l: Labels): string =>
  `{${Object.entries(l).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ')}}`

/** A log query's lines, newest first, as the console's line rows take them. */
export function linesOf (streams: LokiStream[]): Line[] {
  const lines = streams.flatMap(s => s.values.map(([t, text]) =>
    ({ source: s.stream.source ?? '', cursor: '', ts: Number(t.slice(0, -6)), text })))
  return lines.sort((a, b) => b.ts - a.ts)
}
