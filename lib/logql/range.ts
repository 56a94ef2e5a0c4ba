// A range aggregation (count_over_time(... [5m]), quantile_over_time(0.99, ... | unwrap d [1m]) ...) over all
// steps in one pass over the lines. The time from the first window's start to the last step is cut into cells as
// wide as the greatest common divisor of range and step; a sample lands in one cell, and each step's window
// (t - offset - range, t - offset] is the union of range/width consecutive cells.
import type { LogStore } from '../store/log-store'
import { QueryError } from '../query/errors'
import type { Grouping, RangeAggregation, RangeOp } from './ast'
import { labelKey, type Labels } from './labels'
import { compilePipeline, numeric, predicate } from './pipeline'
import { scanStreams, type Stream } from './scan'
import { emptyValues, groupLabels, type Series, type Steps } from './series'

/** The most cells a range aggregation keeps per series. */
const MAX_CELLS = 1_000_000

/**
 * What one cell holds of its samples. A series keeps only the cells it has samples in: a parser gives many
 * series of a few lines each (a request id), and dense arrays per series would hold every step of each.
 */
class Cell {
  count = 0
  sum = 0
  sumSq = 0
  min = Infinity
  max = -Infinity
  firstTs = Infinity
  first = NaN
  lastTs = -Infinity
  last = NaN
  /** Every value, for quantiles only. */
  values: number[] | null = null

  add (ts: number, v: number, keepValues: boolean): void {
    this.count++
    this.sum += v
    this.sumSq += v * v
    if (v < this.min) this.min = v
    if (v > this.max) this.max = v
    if (ts < this.firstTs) { this.firstTs = ts; this.first = v }
    if (ts >= this.lastTs) { this.lastTs = ts; this.last = v }
    if (keepValues) (this.values ??= []).push(v)
  }
}

/** The φ-quantile of values, interpolated between ranks as Prometheus's quantile_over_time does. */
export function quantile (q: number, values: number[]): number {
  if (values.length === 0) return NaN
  if (q < 0) return -Infinity
  if (q > 1) return Infinity
  const sorted = [...values].sort((a, b) => a - b)
  const rank = q * (sorted.length - 1)
  const lo = Math.floor(rank)
  const hi = Math.min(lo + 1, sorted.length - 1)
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo)
}

function gcd (a: number, b: number): number { return b === 0 ? a : gcd(b, a % b) }

export interface RangeResult { series: Series[], scanLimited: boolean }

/** The range aggregations whose values add up over series: a sum of them can group the lines themselves. */
export const ADDITIVE = new Set<RangeOp>(['count_over_time', 'rate', 'bytes_over_time', 'bytes_rate', 'sum_over_time'])

/**
 * `collapse` groups the lines' labels before they make series (for a `sum by` over an ADDITIVE aggregation): one
 * series per group, not one per label set a parser found.
 */
export async function rangeAggregation (store: LogStore, streams: Stream[], q: RangeAggregation, steps: Steps,
  scan?: number, collapse: Grouping | null = null): Promise<RangeResult> {
  const width = steps.count === 1 ? q.range : gcd(q.range, steps.step)
  const base = steps.start - q.offset - q.range
  const perWindow = q.range / width
  const stride = steps.count === 1 ? 0 : steps.step / width
  const n = stride * (steps.count - 1) + perWindow
  if (!Number.isInteger(perWindow) || n > MAX_CELLS) {
    throw new QueryError('bad-input', `range ${q.range}ms and step ${steps.step}ms make too many windows: ` +
      'choose a step that divides the range, or a longer step')
  }
  const pipeline = compilePipeline(q.log.pipeline)
  const post = (q.unwrap?.post ?? []).map(predicate)
  const cellsOf = new Map<string, { labels: Labels, cells: Map<number, Cell> }>()
  const keep = q.op === 'quantile_over_time'
  const last = steps.start + (steps.count - 1) * steps.step - q.offset
  const scanLimited = await scanStreams(store, streams, q.log, base + 1, last, scan, (stream, line) => {
    const k = Math.ceil((line.ts - base) / width) - 1
    if (k < 0 || k >= n) return true
    const e = pipeline({ line: line.text, labels: stream.labels })
    if (e === null) return true
    let labels = e.labels
    let v = line.bytes
    if (q.unwrap) {
      const got = numeric(labels[q.unwrap.label], q.unwrap.conversion ?? 'number')
      // A sample whose value does not convert is left out (Loki reports an error unless __error__ is filtered).
      if (got === null) return true
      v = got
      labels = { ...labels }
      delete labels[q.unwrap.label]
      if (!post.every(p => p(labels))) return true
      if (q.grouping) labels = groupLabels(labels, q.grouping.mode, q.grouping.labels)
    }
    if (collapse) labels = groupLabels(labels, collapse.mode, collapse.labels)
    delete labels.__error__
    const key = labelKey(labels)
    let entry = cellsOf.get(key)
    if (!entry) cellsOf.set(key, entry = { labels, cells: new Map() })
    let cell = entry.cells.get(k)
    if (!cell) entry.cells.set(k, cell = new Cell())
    cell.add(line.ts, v, keep)
    return true
  })
  const rangeSeconds = q.range / 1000
  const series: Series[] = []
  for (const { labels, cells } of cellsOf.values()) {
    const values = emptyValues(steps.count)
    for (let i = 0; i < steps.count; i++) values[i] = windowValue(q, cells, i * stride, perWindow, rangeSeconds)
    series.push({ labels, values })
  }
  if (q.op === 'absent_over_time') return { series: absent(q, steps, series), scanLimited }
  return { series, scanLimited }
}

function windowValue (q: RangeAggregation, c: Map<number, Cell>, from: number, cells: number, rangeSeconds: number):
  number {
  let count = 0; let sum = 0; let sumSq = 0; let min = Infinity; let max = -Infinity
  let firstTs = Infinity; let first = NaN; let lastTs = -Infinity; let last = NaN
  const values: number[] = []
  const add = (x: Cell): void => {
    count += x.count; sum += x.sum; sumSq += x.sumSq
    min = Math.min(min, x.min); max = Math.max(max, x.max)
    if (x.firstTs < firstTs) { firstTs = x.firstTs; first = x.first }
    if (x.lastTs >= lastTs) { lastTs = x.lastTs; last = x.last }
    if (x.values) for (const v of x.values) values.push(v)
  }
  // A sparse series is walked by its cells, a dense one by the window's.
  if (c.size < cells) {
    for (const [k, x] of c) if (k >= from && k < from + cells) add(x)
  } else {
    for (let k = from; k < from + cells; k++) {
      const x = c.get(k)
      if (x) add(x)
    }
  }
  if (count === 0) return NaN
  const variance = Math.max(0, sumSq / count - (sum / count) ** 2)
  switch (q.op) {
    case 'count_over_time': return count
    case 'rate': return count / rangeSeconds
    case 'bytes_over_time': case 'sum_over_time': return sum
    case 'bytes_rate': return sum / rangeSeconds
    case 'avg_over_time': return sum / count
    case 'min_over_time': return min
    case 'max_over_time': return max
    case 'stdvar_over_time': return variance
    case 'stddev_over_time': return Math.sqrt(variance)
    case 'quantile_over_time': return quantile(q.param ?? 0, values)
    case 'first_over_time': return first
    case 'last_over_time': return last
    case 'absent_over_time': return 1
  }
}

/** absent_over_time: 1 at the steps where no series has a sample, labelled by the selector's equality matchers. */
function absent (q: RangeAggregation, steps: Steps, found: Series[]): Series[] {
  const values = emptyValues(steps.count)
  let any = false
  for (let i = 0; i < steps.count; i++) {
    if (found.every(s => Number.isNaN(s.values[i]))) { values[i] = 1; any = true }
  }
  if (!any) return []
  const labels: Labels = {}
  for (const m of q.log.selector) if (m.op === '=') labels[m.name] = m.value
  return [{ labels, values }]
}

