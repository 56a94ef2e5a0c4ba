// The lines of a log query's streams in a time range, in one forward pass per source. The line filters that hold
// for the raw line (those before any line_format) narrow the pass exactly as grep's do: their required tokens
// pick the blocks the store's token filters say may hold them (query/grep.ts's searchRanges). A range aggregation
// takes the windows whole, for a scan worker (range.ts); a log query takes their lines.
import type { LogStore } from '../store/log-store'
import type { SourceIndex } from '../store/source'
import type { Chunk } from '../store/pieces'
import { searchRanges } from '../query/grep'
import { requiredTokens } from '../query/literals'
import { scanLines, WindowBuffers, type ScanBudget } from '../query/scan'
import { Pace } from '../query/pace'
import { NL } from '../util/bytes'
import type { LineFilter, LogQuery } from './ast'
import type { Labels } from './labels'

export interface ScanLine {
  /** When the agent took the write that began the line, in ms since the epoch. */
  ts: number
  text: string
  /** Its length in bytes, without the newline. */
  bytes: number
}

export interface Stream { s: SourceIndex, labels: Labels }

/** Token hashes every line the query keeps holds as stored: those of requiredFilters. */
export function queryTokens (q: LogQuery): number[] {
  return requiredFilters(q).flatMap(f => requiredTokens({ pattern: f.values[0], regex: f.op === '|~', word: false }))
}

/** Texts every line the query keeps holds as stored, in bytes: the `|=` filters of requiredFilters. */
function queryLiterals (q: LogQuery): Buffer[] {
  return requiredFilters(q).filter(f => f.op === '|=').map(f => Buffer.from(f.values[0]))
}

/**
 * The positive filters of one non-empty value on the line as stored, before any line_format or decolorize changes
 * it: each holds for every line the query keeps.
 */
function requiredFilters (q: LogQuery): LineFilter[] {
  const out: LineFilter[] = []
  for (const stage of q.pipeline) {
    if (stage.kind === 'line_format' || stage.kind === 'decolorize') break
    if (stage.kind !== 'line') continue
    for (const f of stage.filters) {
      if ((f.op === '|=' || f.op === '|~') && f.values.length === 1 && f.values[0] !== '') out.push(f)
    }
  }
  return out
}

/**
 * Calls `each` for every window of whole lines of `streams` that may hold lines of [since, until], source by
 * source, in cursor order; a window may hold lines outside that time too. `each` returning false ends the stream's
 * scan. Returns whether the scan budget cut the pass short.
 */
export async function scanWindows (store: LogStore, streams: Stream[], q: LogQuery, since: number, until: number,
  scan: number | undefined, buffers: WindowBuffers,
  each: (stream: Stream, window: Chunk) => boolean | Promise<boolean>): Promise<boolean> {
  const { ranges } = searchRanges(store, streams.map(st => st.s), queryTokens(q), since, until)
  const literals = queryLiterals(q)
  const budget: ScanBudget = { left: scan ?? Infinity, spent: false }
  const pace = new Pace()
  for (const stream of streams) {
    let more = true
    for (const [a, b] of ranges(stream.s)) {
      for await (const window of scanLines(stream.s, a, b, budget, buffers, pace)) {
        // A window without a text every kept line holds keeps no line: the token filters' false positives and the
        // rest of a block around a rare token end here, at memory speed, not in a scan worker's round trip.
        if (literals.some(l => !window.data.includes(l))) {
          buffers.give(window.data)
          continue
        }
        more = await each(stream, window)
        if (!more) break
      }
      if (!more || budget.spent) break
    }
    if (budget.spent) return true
  }
  return false
}

/**
 * Calls `each` for every line of `streams` whose time is in [since, until], source by source, in cursor order.
 * `each` returning false ends the stream's scan. Returns whether the scan budget cut the pass short.
 */
export async function scanStreams (store: LogStore, streams: Stream[], q: LogQuery, since: number, until: number,
  scan: number | undefined, each: (stream: Stream, line: ScanLine) => boolean): Promise<boolean> {
  const buffers = new WindowBuffers()
  return await scanWindows(store, streams, q, since, until, scan, buffers, (stream, window) => {
    const buf = window.data
    let more = true
    for (let at = 0; at < buf.length && more;) {
      const nl = buf.indexOf(NL, at)
      const end = nl < 0 ? buf.length : nl
      const ts = window.timestampAt(at)
      if (ts >= since && ts <= until) {
        more = each(stream, { ts, text: buf.toString('utf8', at, end), bytes: end - at })
      }
      at = end + 1
    }
    buffers.give(buf)
    return more
  })
}
