// A metric query's value: series with one value per evaluation step (NaN where the series has none), over the
// steps start, start + step, ... up to end; an instant query has one step.
import type { Labels } from './labels'

export interface Steps { start: number, end: number, step: number, count: number }

export interface Series { labels: Labels, values: Float64Array }

export type Value = { kind: 'vector', series: Series[] } | { kind: 'scalar', values: Float64Array }

export function makeSteps (start: number, end: number, step: number): Steps {
  return { start, end, step, count: Math.floor((end - start) / step) + 1 }
}

export function stepTime (s: Steps, i: number): number { return s.start + i * s.step }

export function emptyValues (n: number): Float64Array { return new Float64Array(n).fill(NaN) }

/** The labels a grouping keeps: `by` the named ones, `without` all but the named ones. */
export function groupLabels (labels: Labels, mode: 'by' | 'without', names: string[]): Labels {
  const out: Labels = {}
  for (const [k, v] of Object.entries(labels)) if (names.includes(k) === (mode === 'by')) out[k] = v
  return out
}
