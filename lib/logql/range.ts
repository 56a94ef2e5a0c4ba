// A range aggregation (count_over_time(... [5m]), quantile_over_time(0.99, ... | unwrap d [1m]) ...) over all
// steps in one pass over the lines. The time from the first window's start to the last step is cut into cells as
// wide as the greatest common divisor of range and step; a sample lands in one cell, and each step's window
// (t - offset - range, t - offset] is the union of range/width consecutive cells.
import path from 'node:path'
import type { LogStore } from '../store/log-store'
import type { Chunk } from '../store/pieces'
import { QueryError } from '../query/errors'
import { MATCHERS, runInScanWorker } from '../query/match-pool'
import { WindowBuffers, forWorker } from '../query/scan'
import type { Grouping, RangeAggregation, RangeOp } from './ast'
import type { Labels } from './labels'
import { mergeWindow, windowValue, type SeriesCells, type WindowCells } from './cells'
import type { RangePlan, WindowTask } from './range-window'
import { scanWindows, type Stream } from './scan'
import { emptyValues, type Series, type Steps } from './series'

/** The most cells a range aggregation keeps per series. */
const MAX_CELLS = 1_000_000

function gcd (a: number, b: number): number { return b === 0 ? a : gcd(b, a % b) }

export interface RangeResult { series: Series[], scanLimited: boolean }

/** The range aggregations whose values add up over series: a sum of them can group the lines themselves. */
export const ADDITIVE = new Set<RangeOp>(['count_over_time', 'rate', 'bytes_over_time', 'bytes_rate', 'sum_over_time'])

let plans = 0

const WORKER = path.join(__dirname, 'range-worker.js')

/** A window evaluated in a scan worker, which reads it in its shared memory (forWorker). */
function inWorker (plan: RangePlan, labels: Labels, window: Chunk): Promise<WindowCells> {
  const { window: shared, transfer } = forWorker(window.data)
  const task: WindowTask = { plan, labels, ...shared, ...window.timeline() }
  const p = runInScanWorker<WindowCells>(WORKER, task, transfer)
  // Awaited in order later; a failure meanwhile must not count as unhandled.
  p.catch(() => undefined)
  return p
}

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
  const plan: RangePlan = { id: `${process.pid}:${++plans}`, q, collapse, base, width, n }
  const last = steps.start + (steps.count - 1) * steps.step - q.offset
  const cellsOf = new Map<string, SeriesCells>()
  // Windows go to the scan workers up to MATCHERS at a time with one more read ahead; their cells are merged in
  // scan order, which first_over_time and last_over_time rely on.
  const inflight: Array<{ window: Chunk, cells: Promise<WindowCells> }> = []
  const buffers = new WindowBuffers()
  const merge = async (): Promise<void> => {
    const { window, cells } = inflight.shift()!
    mergeWindow(cellsOf, await cells)
    buffers.give(window.data)
  }
  const scanLimited = await scanWindows(store, streams, q.log, base + 1, last, scan, buffers, async (stream, w) => {
    inflight.push({ window: w, cells: inWorker(plan, stream.labels, w) })
    if (inflight.length > MATCHERS) await merge()
    return true
  }).finally(() => Promise.allSettled(inflight.map(x => x.cells)))
  while (inflight.length > 0) await merge()
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

