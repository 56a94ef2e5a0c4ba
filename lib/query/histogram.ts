// Volume over time for the console's histogram: bytes, lines and lines per level written per time bucket, from the
// sources' entries (each entry's time is when the agent took its first write). Bytes need no read; lines and levels
// come from the index's per-entry counts (the disk store's sidecars and built blocks), and only entries it has none
// for yet (in the open segment's last block) are read and counted. A store that keeps no counts (a JetStream
// gateway) gives no lines.
import type { LogStore } from '../store/log-store'
import { holdAll, type SourceIndex } from '../store/source'
import { LEVELS, SUMMARY, countLines, type Level } from '../store/levels'

const MIN_STEP_MS = 1000

export interface Histogram {
  from: number
  to: number
  /** Bucket width in ms. */
  step: number
  /** Bytes per bucket, oldest first. */
  bytes: number[]
  /** Lines (newlines) per bucket. */
  lines: number[]
  /** Per level, lines whose first level word is that level, per bucket; lines - their sum have none. */
  levels: Record<Level, number[]>
}

/**
 * Up to `buckets` equal buckets, at least a second wide, over [from, to] (defaults: the oldest and newest entry of
 * `sources`).
 */
export function histogram (store: LogStore, sources: SourceIndex[], buckets: number, from?: number, to?: number):
  Histogram {
  holdAll(sources)
  let lo = from ?? Infinity
  let hi = to ?? -Infinity
  if (from === undefined || to === undefined) {
    for (const s of sources) {
      const x = s.extents
      if (x.length === 0) continue
      if (from === undefined) lo = Math.min(lo, x[0].timestamp)
      if (to === undefined) hi = Math.max(hi, s.lastWrite)
    }
  }
  const levels = (n: number): Record<Level, number[]> =>
    Object.fromEntries(LEVELS.map(l => [l, new Array<number>(n).fill(0)])) as Record<Level, number[]>
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) {
    return { from: 0, to: 0, step: 0, bytes: [], lines: [], levels: levels(0) }
  }
  // Buckets narrower than a second say nothing a person reads; a short range gets fewer of them.
  const step = Math.max(MIN_STEP_MS, Math.ceil((hi - lo + 1) / buckets))
  buckets = Math.min(buckets, Math.ceil((hi - lo + 1) / step))
  const bytes = new Array<number>(buckets).fill(0)
  const counts = new Float64Array(buckets * SUMMARY)
  for (const s of sources) {
    // Entries are in cursor order, and their times nearly so: a binary search finds where the range starts.
    for (let i = s.extentAtTime(lo); i < s.extents.length; i++) {
      const e = s.extents[i]
      if (e.timestamp > hi) continue
      const b = Math.min(buckets - 1, Math.floor((e.timestamp - lo) / step))
      bytes[b] += e.length
      // A store with no per-entry counts (a gateway) would have to fetch every byte: its lines are not counted.
      if (store.addLineCounts === undefined || store.addLineCounts(e, counts, b * SUMMARY)) continue
      const counted = countLines(s.read(s.extentStart(i), s.extentStart(i) + e.length))
      if (counted) for (let j = 0; j < SUMMARY; j++) counts[b * SUMMARY + j] += counted[j]
    }
  }
  const column = (j: number): number[] => Array.from({ length: buckets }, (_, b) => counts[b * SUMMARY + j])
  const byLevel = Object.fromEntries(LEVELS.map((l, k) => [l, column(1 + k)])) as Record<Level, number[]>
  return { from: lo, to: hi, step, bytes, lines: column(0), levels: byLevel }
}
