// Volume over time for the console's histogram: bytes written per time bucket, from the sources' entries (each
// entry's time is when the agent took its first write), so no byte is read.
import type { SourceIndex } from '../store/source'

const MIN_STEP_MS = 1000

export interface Histogram {
  from: number
  to: number
  /** Bucket width in ms. */
  step: number
  /** Bytes per bucket, oldest first. */
  bytes: number[]
}

/**
 * Up to `buckets` equal buckets, at least a second wide, over [from, to] (defaults: the oldest and newest entry of
 * `sources`).
 */
export function histogram (sources: SourceIndex[], buckets: number, from?: number, to?: number): Histogram {
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
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return { from: 0, to: 0, step: 0, bytes: [] }
  // Buckets narrower than a second say nothing a person reads; a short range gets fewer of them.
  const step = Math.max(MIN_STEP_MS, Math.ceil((hi - lo + 1) / buckets))
  buckets = Math.min(buckets, Math.ceil((hi - lo + 1) / step))
  const bytes = new Array<number>(buckets).fill(0)
  for (const s of sources) {
    // Entries are in cursor order, and their times nearly so: a binary search finds where the range starts.
    for (let i = s.extentAtTime(lo); i < s.extents.length; i++) {
      const e = s.extents[i]
      if (e.timestamp > hi) continue
      bytes[Math.min(buckets - 1, Math.floor((e.timestamp - lo) / step))] += e.length
    }
  }
  return { from: lo, to: hi, step, bytes }
}
