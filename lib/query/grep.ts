// Search: narrow by source glob and by time (entry timestamps → positions, a binary search per source), then by
// the store's token filters (the blocks that may hold every token the pattern proves), and scan only those byte
// ranges, widened to whole lines, in windows read off the event loop and matched in scan workers (match.ts).
import type { LogStore } from '../store/log-store'
import { holdAll, type Piece, type SourceIndex } from '../store/source'
import type { Chunk } from '../store/pieces'
import { lineStart, linesFrom, makeLine, type Line } from './lines'
import { requiredTokens } from './literals'
import { NL } from '../util/bytes'
import { compile, findHits, type Found, type Matcher, type Pattern } from './match'
import { MATCHERS, matchInWorker } from './match-pool'
import { WindowBuffers, forWorker, scanLines, type ScanBudget } from './scan'
import { Pace } from './pace'

export interface GrepQuery extends Pattern {
  since?: number
  until?: number
  limit: number
  /** Bytes the search may read (its tenant's `scan` limit); all of the range when absent. */
  scan?: number
}

export interface Hit extends Line {
  /** Character offsets of the first match in `text`. */
  match: [number, number]
}

export interface GrepResult {
  hits: Hit[]
  /** Bytes read and matched: what the filters left of the range asked for. */
  scannedBytes: number
  truncated: boolean
  /** The search stopped at the scan limit (`truncated` too): lines past what it read were not searched. */
  scanLimited: boolean
  /** Whether the filters could prune: false when the pattern proves no token (tokens.ts), so all was scanned. */
  indexed: boolean
  /**
   * Of the range asked for, bytes read whole because no filter covered them yet (a gateway's newest messages,
   * before their filters are built); with `indexed` true, the rest was pruned by filters.
   */
  unindexedBytes: number
}

const HITS_PER_TURN = 500

/** Hits in source order, then cursor order; the scan stops once `limit` hits are found. */
export async function grep (store: LogStore, sources: SourceIndex[], q: GrepQuery): Promise<GrepResult> {
  const matcher = compile(q)
  const { ranges, indexed, unindexed } = searchRanges(store, sources, requiredTokens(q), q.since, q.until)
  const hits: Hit[] = []
  let scannedBytes = 0
  let unindexedBytes = 0
  const budget: ScanBudget = { left: q.scan ?? Infinity, spent: false }
  const buffers = new WindowBuffers()
  const pace = new Pace()
  // A search that found its `limit` hits is whole, however much of the budget its last window took.
  const answer = (truncated: boolean): GrepResult => {
    const scanLimited = budget.spent && hits.length < q.limit
    return { hits, scannedBytes, truncated: truncated || scanLimited, scanLimited, indexed, unindexedBytes }
  }
  for (const s of sources) {
    unindexedBytes += unindexed(s)
    for (const [a, b] of ranges(s)) {
      // Windows are read one after another and matched up to MATCHERS at a time, one more read ahead, results
      // taken in order.
      const inflight: Array<Promise<Matched>> = []
      const take = async (): Promise<boolean> => {
        const { window, found, bytes } = await inflight.shift()!
        scannedBytes += bytes
        for (const [i, f] of found.entries()) {
          if (hits.length >= q.limit) break
          // Building thousands of hits is the costliest part of a busy grep on the event loop, so ingest gets it
          // between every HITS_PER_TURN of them (bench:stall, the 10,000-hit row).
          if (i > 0 && i % HITS_PER_TURN === 0) await pace.turn()
          // A worker sends each line's text; a window matched here still has its bytes, decoded a line at a time.
          const text = f.text ?? window.data.toString('utf8', f.lineStart, f.lineEnd)
          const line = makeLine(s.source, window.cursorAt(f.lineStart), window.timestampAt(f.lineStart), text)
          hits.push({ ...line, match: [f.matchStart, f.matchEnd] })
        }
        buffers.give(window.data)
        return hits.length >= q.limit
      }
      for await (const window of scanLines(s, a, b, budget, buffers, pace)) {
        const pending = matchWindow(window, q, matcher, q.limit - hits.length, pace)
        pending.catch(() => {})
        inflight.push(pending)
        if (inflight.length > MATCHERS && await take()) return answer(true)
      }
      while (inflight.length > 0) if (await take()) return answer(true)
      if (budget.spent) return answer(true)
    }
  }
  return answer(false)
}

/** What a search must read of each source. */
export interface SearchRanges {
  /** The byte ranges of a source, in order. */
  ranges: (s: SourceIndex) => Array<[number, number]>
  /** Whether the token filters narrowed them: false when `hashes` is empty or the store keeps no filters. */
  indexed: boolean
  /** Bytes of a source's range that are candidates only because no filter covers them yet. */
  unindexed: (s: SourceIndex) => number
}

/**
 * The parts of `sources` a search for lines holding every token of `hashes` reads: each source's time range
 * [since, until], narrowed by the store's token filters to the blocks that may hold all of them.
 */
export function searchRanges (store: LogStore, sources: SourceIndex[], hashes: number[], since?: number,
  until?: number): SearchRanges {
  holdAll(sources)
  const picked = new Set(sources)
  const plan = hashes.length > 0 ? store.candidates(hashes, s => picked.has(s)) : null
  const span = (s: SourceIndex): [number, number] =>
    [since !== undefined ? s.positionAtTime(since) : 0, until !== undefined ? s.positionAtTime(until + 1) : s.end]
  return {
    indexed: plan !== null,
    ranges: s => {
      const [from, to] = span(s)
      return plan ? lineRanges(s, plan.get(s) ?? [], from, to) : [[from, to]]
    },
    unindexed: s => {
      const [from, to] = span(s)
      let n = 0
      for (const p of plan?.get(s) ?? []) {
        const pos = p.unindexed === true ? s.logicalOf(p.e) : null
        if (pos !== null) n += Math.max(0, Math.min(to, pos + p.to) - Math.max(from, pos + p.from))
      }
      return n
    },
  }
}

interface Matched { window: Chunk, found: Array<Found & { text?: string }>, bytes: number }

/** Windows this small are matched on the event loop: a worker's round trip would cost more. */
const INLINE = 256 * 1024

/**
 * The hits of one window. A RegExp run over every line goes to a scan worker (about 25 ms per 4 MiB window, time
 * the event loop owes ingest); a literal, or a RegExp anchored on one, is matched here, by the native byte search
 * at memory speed, which is faster than handing the window over (measured: a 1 GB scan took 1.3 s here and 2 s
 * in workers, whose copies also raised the server's RSS by 90 MiB).
 */
async function matchWindow (window: Chunk, q: Pattern, matcher: Matcher, max: number, pace: Pace):
  Promise<Matched> {
  const buf = window.data
  const bytes = buf.length
  if (bytes < INLINE || Buffer.isBuffer(matcher) || matcher.anchor !== null) {
    return { window, found: await matchInline(buf, matcher, max, pace), bytes }
  }
  const { window: shared, transfer } = forWorker(buf)
  const { pattern, regex, ignoreCase, word } = q
  return { window, found: await matchInWorker({ ...shared, max, pattern, regex, ignoreCase, word }, transfer), bytes }
}

/**
 * `findHits` over a window INLINE bytes of whole lines at a time, the event loop's other work between: a window
 * whose every line matches would otherwise build thousands of hits in one go (bench:stall, the 10,000-hit row).
 */
async function matchInline (buf: Buffer, matcher: Matcher, max: number, pace: Pace): Promise<Found[]> {
  const found: Found[] = []
  for (let at = 0; at < buf.length && found.length < max;) {
    if (at > 0) await pace.turn()
    let end = buf.length
    if (at + INLINE < buf.length) {
      const nl = buf.lastIndexOf(NL, at + INLINE - 1)
      // A line longer than a slice is matched whole.
      const next = nl >= at ? nl : buf.indexOf(NL, at + INLINE)
      end = next < 0 ? buf.length : next + 1
    }
    for (const f of findHits(buf.subarray(at, end), matcher, max - found.length)) {
      found.push({ ...f, lineStart: f.lineStart + at, lineEnd: f.lineEnd + at })
    }
    at = end
  }
  return found
}

/**
 * The logical ranges of `s` that hold the candidate pieces, within [from, to), widened to whole lines (a line may
 * start or end in a neighbouring extent) and merged, in order.
 */
function lineRanges (s: SourceIndex, pieces: Piece[], from: number, to: number): Array<[number, number]> {
  const raw: Array<[number, number]> = []
  for (const p of pieces) {
    const pos = s.logicalOf(p.e)
    if (pos === null) continue
    const a = Math.max(from, pos + p.from)
    const b = Math.min(to, pos + p.to)
    if (a < b) raw.push([a, b])
  }
  const widened = merge(raw).map(([a, b]): [number, number] => {
    const start = lineStart(s, a)
    const last = linesFrom(s, lineStart(s, b - 1), 1)[0]
    return [Math.max(from, start), Math.min(to, last ? last.end : b)]
  })
  return merge(widened)
}

/** Sorts ranges and joins those that overlap or touch. */
function merge (ranges: Array<[number, number]>): Array<[number, number]> {
  ranges.sort((x, y) => x[0] - y[0])
  const out: Array<[number, number]> = []
  for (const r of ranges) {
    const last = out[out.length - 1]
    if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1])
    else out.push([r[0], r[1]])
  }
  return out
}

