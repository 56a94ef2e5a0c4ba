// What a range aggregation keeps of its samples: per series, the cells (slices of time as wide as the greatest
// common divisor of range and step) it has samples in, and each step's value from the cells of its window. Cells
// are built in the scan workers window by window and merged on the event loop in scan order.
import type { RangeAggregation } from './ast'
import type { Labels } from './labels'

/**
 * What one cell holds of its samples. A series keeps only the cells it has samples in: a parser gives many
 * series of a few lines each (a request id), and dense arrays per series would hold every step of each.
 */
export class Cell {
  count = 0
  sum = 0
  sumSq = 0
  min = Infinity
  max = -Infinity
  firstTs = Infinity
  first = NaN
  lastTs = -Infinity
  last = NaN
  /**
   * For quantiles only: each value with how many samples had it. Services log few distinct values (latencies in
   * whole ms), so this is far smaller than every sample, and a quantile from it is the same.
   */
  values: Map<number, number> | null = null

  add (ts: number, v: number, keepValues: boolean): void {
    this.count++
    this.sum += v
    this.sumSq += v * v
    if (v < this.min) this.min = v
    if (v > this.max) this.max = v
    if (ts < this.firstTs) { this.firstTs = ts; this.first = v }
    if (ts >= this.lastTs) { this.lastTs = ts; this.last = v }
    if (keepValues) {
      const values = this.values ??= new Map()
      values.set(v, (values.get(v) ?? 0) + 1)
    }
  }

  /** Adds the samples of a cell that came later in the scan (a plain copy, as a worker sends it). */
  merge (x: CellData): void {
    this.count += x.count
    this.sum += x.sum
    this.sumSq += x.sumSq
    this.min = Math.min(this.min, x.min)
    this.max = Math.max(this.max, x.max)
    if (x.firstTs < this.firstTs) { this.firstTs = x.firstTs; this.first = x.first }
    if (x.lastTs >= this.lastTs) { this.lastTs = x.lastTs; this.last = x.last }
    if (x.values) {
      const values = this.values ??= new Map()
      for (const [v, n] of x.values) values.set(v, (values.get(v) ?? 0) + n)
    }
  }
}

/** A cell as a worker sends it: its fields, copied. */
export type CellData = Omit<Cell, 'add' | 'merge'>

/** A series' cells, by cell index. */
export interface SeriesCells { labels: Labels, cells: Map<number, Cell> }

/** What a worker found in one window: each series by its key, with its cells. */
export type WindowCells = Array<{ key: string, labels: Labels, cells: Array<[number, CellData]> }>

/** Adds a window's cells to the series found so far; windows must come in scan order. */
export function mergeWindow (into: Map<string, SeriesCells>, found: WindowCells): void {
  for (const { key, labels, cells } of found) {
    let entry = into.get(key)
    if (!entry) into.set(key, entry = { labels, cells: new Map() })
    for (const [k, x] of cells) {
      let cell = entry.cells.get(k)
      if (!cell) entry.cells.set(k, cell = new Cell())
      cell.merge(x)
    }
  }
}

/**
 * The φ-quantile of the values counted, interpolated between ranks as Prometheus's quantile_over_time does over
 * the samples sorted.
 */
export function quantile (q: number, counts: Map<number, number>): number {
  if (counts.size === 0) return NaN
  if (q < 0) return -Infinity
  if (q > 1) return Infinity
  // A typed array sorts numbers without a comparator call per pair.
  const sorted = Float64Array.from(counts.keys()).sort()
  let total = 0
  for (const n of counts.values()) total += n
  const rank = q * (total - 1)
  const lo = Math.floor(rank)
  const hi = Math.min(lo + 1, total - 1)
  /** The value of the sample at index i of all of them sorted. */
  const at = (i: number): number => {
    let seen = 0
    for (const v of sorted) {
      seen += counts.get(v)!
      if (i < seen) return v
    }
    return sorted[sorted.length - 1]
  }
  const [a, b] = [at(lo), at(hi)]
  return a + (b - a) * (rank - lo)
}

/** The value of the step whose window is cells [from, from + cells). */
export function windowValue (q: RangeAggregation, c: Map<number, Cell>, from: number, cells: number,
  rangeSeconds: number): number {
  const w = new Cell()
  // A sparse series is walked by its cells, a dense one by the window's.
  if (c.size < cells) {
    for (const [k, x] of c) if (k >= from && k < from + cells) w.merge(x)
  } else {
    for (let k = from; k < from + cells; k++) {
      const x = c.get(k)
      if (x) w.merge(x)
    }
  }
  const { count, sum, sumSq } = w
  if (count === 0) return NaN
  const variance = Math.max(0, sumSq / count - (sum / count) ** 2)
  switch (q.op) {
    case 'count_over_time': return count
    case 'rate': return count / rangeSeconds
    case 'bytes_over_time': case 'sum_over_time': return sum
    case 'bytes_rate': return sum / rangeSeconds
    case 'avg_over_time': return sum / count
    case 'min_over_time': return w.min
    case 'max_over_time': return w.max
    case 'stdvar_over_time': return variance
    case 'stddev_over_time': return Math.sqrt(variance)
    case 'quantile_over_time': return quantile(q.param ?? 0, w.values ?? new Map())
    case 'first_over_time': return w.first
    case 'last_over_time': return w.last
    case 'absent_over_time': return 1
  }
}
