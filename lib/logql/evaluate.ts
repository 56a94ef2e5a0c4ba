// Evaluates a parsed LogQL query over the store: a log query gives streams of lines, a metric query series over
// the steps of its range (or one step for an instant query), each range aggregation in one pass over its lines.
import type { LogStore } from '../store/log-store'
import type { Allowed } from '../query/scope'
import { QueryError } from '../query/errors'
import type { Grouping, LabelMatcher, MetricQuery, Query, RangeAggregation } from './ast'
import { selectStreams } from './labels'
import { runLogQuery, type LogStream } from './log-query'
import { ADDITIVE, rangeAggregation } from './range'
import { aggregate, binary } from './vector'
import { makeSteps, type Series, type Steps, type Value } from './series'

export interface Evaluation {
  /** ms since the epoch; an instant query has start = end. */
  start: number
  end: number
  step: number
  instant: boolean
  limit: number
  direction: 'forward' | 'backward'
  /** Bytes the query may read (its tenant's `scan` limit); unlimited when absent. */
  scan?: number
}

export type Result =
  | { kind: 'streams', streams: LogStream[], scanLimited: boolean }
  | { kind: 'matrix' | 'vector', series: Series[], steps: Steps, scanLimited: boolean }
  | { kind: 'scalar', values: Float64Array, steps: Steps, scanLimited: boolean }

/** Every stream selector of a query, for the sources (and tenants) it reads. */
export function selectorsOf (q: Query): LabelMatcher[][] {
  switch (q.kind) {
    case 'log': return [q.selector]
    case 'range': return [q.log.selector]
    case 'vector': return selectorsOf(q.inner)
    case 'binary': return [...selectorsOf(q.left), ...selectorsOf(q.right)]
    case 'number': case 'vector_literal': return []
  }
}

export async function evaluate (store: LogStore, allowed: Allowed, q: Query, e: Evaluation): Promise<Result> {
  if (q.kind === 'log') {
    if (e.instant) {
      throw new QueryError('bad-input', 'log queries are not supported as an instant query: use query_range')
    }
    const streams = selectStreams(store.allSources(), allowed, q.selector)
    const range = { since: e.start, until: e.end - 1, limit: e.limit, direction: e.direction }
    const r = await runLogQuery(store, streams, q, range, e.scan)
    return { kind: 'streams', streams: r.streams, scanLimited: r.scanLimited }
  }
  const steps = e.instant ? makeSteps(e.end, e.end, 1) : makeSteps(e.start, e.end, e.step)
  if (steps.count > 11_000) {
    throw new QueryError('bad-input', 'exceeded maximum resolution of 11,000 points per time series: ' +
      'try a larger step')
  }
  const state = { scanLimited: false, scan: e.scan }
  const value = await metric(store, allowed, q, steps, state)
  if (value.kind === 'scalar') return { kind: 'scalar', values: value.values, steps, scanLimited: state.scanLimited }
  const series = value.series.filter(s => s.values.some(v => !Number.isNaN(v)))
  return { kind: e.instant ? 'vector' : 'matrix', series, steps, scanLimited: state.scanLimited }
}

async function metric (store: LogStore, allowed: Allowed, q: MetricQuery, steps: Steps,
  state: { scanLimited: boolean, scan?: number }): Promise<Value> {
  switch (q.kind) {
    case 'number': return { kind: 'scalar', values: new Float64Array(steps.count).fill(q.value) }
    case 'vector_literal':
      return { kind: 'vector', series: [{ labels: {}, values: new Float64Array(steps.count).fill(q.value) }] }
    case 'range': return await range(store, allowed, q, steps, state, null)
    case 'vector': {
      // A sum of an additive range aggregation groups the lines as they are read (same answer, far fewer series).
      const pushed = q.op === 'sum' && q.inner.kind === 'range' && q.inner.grouping === null && ADDITIVE.has(q.inner.op)
      const inner = q.inner.kind === 'range' && pushed
        ? await range(store, allowed, q.inner, steps, state, q.grouping ?? { mode: 'by', labels: [] })
        : await metric(store, allowed, q.inner, steps, state)
      if (inner.kind === 'scalar') throw new QueryError('bad-input', `${q.op} needs a vector, not a number`)
      return { kind: 'vector', series: aggregate(q, inner.series, steps.count) }
    }
    case 'binary': {
      const left = await metric(store, allowed, q.left, steps, state)
      const right = await metric(store, allowed, q.right, steps, state)
      return binary(q, left, right, steps.count)
    }
  }
}

async function range (store: LogStore, allowed: Allowed, q: RangeAggregation, steps: Steps,
  state: { scanLimited: boolean, scan?: number }, collapse: Grouping | null): Promise<Value> {
  const streams = selectStreams(store.allSources(), allowed, q.log.selector)
  const r = await rangeAggregation(store, streams, q, steps, state.scan, collapse)
  state.scanLimited ||= r.scanLimited
  return { kind: 'vector', series: r.series }
}
