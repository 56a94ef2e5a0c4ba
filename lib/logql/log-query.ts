// A log query's answer: the lines its pipeline keeps, grouped into streams by their labels, the `limit` oldest
// (direction forward) or newest (backward) of them.
import type { LogStore } from '../store/log-store'
import type { LogQuery } from './ast'
import { labelKey, type Labels } from './labels'
import { compilePipeline } from './pipeline'
import { scanStreams, type Stream } from './scan'

export interface LogStream {
  stream: Labels
  /** [ns since the epoch as a string, line], in the query's direction. */
  values: Array<[string, string]>
}

export interface LogResult { streams: LogStream[], lines: number, scanLimited: boolean }

export interface LogRange { since: number, until: number, limit: number, direction: 'forward' | 'backward' }

interface Kept { ts: number, seq: number, line: string, labels: Labels }

export async function runLogQuery (store: LogStore, streams: Stream[], q: LogQuery, r: LogRange,
  scan?: number): Promise<LogResult> {
  const pipeline = compilePipeline(q.pipeline)
  const forward = r.direction === 'forward'
  let kept: Kept[] = []
  let seq = 0
  const order = (a: Kept, b: Kept): number => forward ? a.ts - b.ts || a.seq - b.seq : b.ts - a.ts || b.seq - a.seq
  // Lines come source by source: the answer is the best `limit` of all, trimmed whenever twice that is held.
  const trim = (): void => { kept = kept.sort(order).slice(0, r.limit) }
  let current: Stream | null = null
  let inStream = 0
  const scanLimited = await scanStreams(store, streams, q, r.since, r.until, scan, (stream, line) => {
    if (stream !== current) { current = stream; inStream = 0 }
    const e = pipeline({ line: line.text, labels: stream.labels })
    if (e === null) return true
    kept.push({ ts: line.ts, seq: seq++, line: e.line, labels: e.labels })
    if (kept.length >= 2 * r.limit) trim()
    // A source's lines come in time order: forward, its later lines cannot displace the first `limit`.
    return !forward || ++inStream < r.limit
  })
  trim()
  return { streams: toStreams(kept), lines: kept.length, scanLimited }
}

/** Lines as Loki's streams: grouped by their labels, each stream's values in the order given. */
export function toStreams (lines: Array<{ ts: number, line: string, labels: Labels }>): LogStream[] {
  const byLabels = new Map<string, LogStream>()
  for (const k of lines) {
    const key = labelKey(k.labels)
    let s = byLabels.get(key)
    if (!s) byLabels.set(key, s = { stream: k.labels, values: [] })
    s.values.push([`${k.ts}000000`, k.line])
  }
  return [...byLabels.values()]
}
