// Aggregations over series (sum by (level) (...), topk(3, ...)) and binary operations, step by step, as
// Prometheus defines them and Loki documents them.
import type { Binary, BinaryOp, Grouping, VectorAggregation } from './ast'
import { labelKey, type Labels } from './labels'
import { compare } from './pipeline'
import { emptyValues, groupLabels, type Series, type Value } from './series'

export function aggregate (q: VectorAggregation, input: Series[], steps: number): Series[] {
  if (q.op === 'sort' || q.op === 'sort_desc') return input
  const groups = new Map<string, { labels: Labels, members: Series[] }>()
  for (const s of input) {
    const labels = q.grouping ? groupLabels(s.labels, q.grouping.mode, q.grouping.labels) : {}
    const key = labelKey(labels)
    let g = groups.get(key)
    if (!g) groups.set(key, g = { labels, members: [] })
    g.members.push(s)
  }
  if (q.op === 'topk' || q.op === 'bottomk') return selectK(q.op, q.param ?? 0, [...groups.values()], steps)
  const out: Series[] = []
  for (const g of groups.values()) {
    const values = emptyValues(steps)
    for (let i = 0; i < steps; i++) {
      const xs = g.members.map(m => m.values[i]).filter(v => !Number.isNaN(v))
      if (xs.length > 0) values[i] = reduce(q.op, xs)
    }
    out.push({ labels: g.labels, values })
  }
  return out
}

function reduce (op: VectorAggregation['op'], xs: number[]): number {
  const sum = xs.reduce((a, b) => a + b, 0)
  const mean = sum / xs.length
  switch (op) {
    case 'sum': return sum
    case 'avg': return mean
    case 'min': return Math.min(...xs)
    case 'max': return Math.max(...xs)
    case 'count': return xs.length
    case 'stdvar': return xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length
    default: return Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length)
  }
}

/** topk/bottomk: at each step, the k largest (smallest) values of each group keep their series' labels. */
function selectK (op: 'topk' | 'bottomk', k: number, groups: Array<{ members: Series[] }>, steps: number): Series[] {
  const picked = new Map<Series, Float64Array>()
  for (const g of groups) {
    for (let i = 0; i < steps; i++) {
      const present = g.members.filter(m => !Number.isNaN(m.values[i]))
      present.sort((a, b) => op === 'topk' ? b.values[i] - a.values[i] : a.values[i] - b.values[i])
      for (const m of present.slice(0, k)) {
        let values = picked.get(m)
        if (!values) picked.set(m, values = emptyValues(steps))
        values[i] = m.values[i]
      }
    }
  }
  return [...picked].map(([m, values]) => ({ labels: m.labels, values }))
}

const COMPARISONS = new Set<BinaryOp>(['==', '!=', '>', '>=', '<', '<='])

function arithmetic (op: BinaryOp, a: number, b: number): number {
  switch (op) {
    case '+': return a + b
    case '-': return a - b
    case '*': return a * b
    case '/': return a / b
    case '%': return a % b
    case '^': return a ** b
    default: return compare(op, a, b) ? 1 : 0
  }
}

/** One step's `a op b`: NaN drops the point (a comparison that fails, without bool, keeps no sample). */
function apply (q: Binary, a: number, b: number, keep: number): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return NaN
  if (COMPARISONS.has(q.op) && !q.bool) return compare(q.op, a, b) ? keep : NaN
  return arithmetic(q.op, a, b)
}

export function binary (q: Binary, left: Value, right: Value, steps: number): Value {
  const each = (f: (i: number) => number): Float64Array => Float64Array.from({ length: steps }, (_, i) => f(i))
  if (left.kind === 'scalar' && right.kind === 'scalar') {
    return { kind: 'scalar', values: each(i => arithmetic(q.op, left.values[i], right.values[i])) }
  }
  if (left.kind === 'vector' && right.kind === 'scalar') {
    const values = (s: Series): Float64Array => each(i => apply(q, s.values[i], right.values[i], s.values[i]))
    return { kind: 'vector', series: left.series.map(s => ({ labels: s.labels, values: values(s) })) }
  }
  if (left.kind === 'scalar' && right.kind === 'vector') {
    const values = (s: Series): Float64Array => each(i => apply(q, left.values[i], s.values[i], s.values[i]))
    return { kind: 'vector', series: right.series.map(s => ({ labels: s.labels, values: values(s) })) }
  }
  if (left.kind !== 'vector' || right.kind !== 'vector') throw new Error('unreachable')
  const sig = (labels: Labels): string => labelKey(resultLabels(labels, q.matching))
  const rightBy = new Map<string, Series>()
  for (const s of right.series) rightBy.set(sig(s.labels), s)
  if (q.op === 'and' || q.op === 'unless' || q.op === 'or') return setOp(q.op, left.series, right.series, sig, steps)
  const out: Series[] = []
  for (const l of left.series) {
    const r = rightBy.get(sig(l.labels))
    if (!r) continue
    const values = each(i => apply(q, l.values[i], r.values[i], l.values[i]))
    out.push({ labels: resultLabels(l.labels, q.matching), values })
  }
  return { kind: 'vector', series: out }
}

/** One-to-one matching keeps the `on` labels, or drops the `ignoring` ones, as Prometheus does. */
function resultLabels (labels: Labels, matching: Grouping | null): Labels {
  return matching ? groupLabels(labels, matching.mode, matching.labels) : labels
}

function setOp (op: 'and' | 'or' | 'unless', left: Series[], right: Series[], sig: (l: Labels) => string,
  steps: number): Value {
  const present = (list: Series[], i: number): Set<string> =>
    new Set(list.filter(s => !Number.isNaN(s.values[i])).map(s => sig(s.labels)))
  const rightAt = Array.from({ length: steps }, (_, i) => present(right, i))
  const leftAt = Array.from({ length: steps }, (_, i) => present(left, i))
  const filter = (s: Series, keep: (i: number) => boolean): Series =>
    ({ labels: s.labels, values: Float64Array.from(s.values, (v, i) => keep(i) ? v : NaN) })
  if (op === 'and') return { kind: 'vector', series: left.map(s => filter(s, i => rightAt[i].has(sig(s.labels)))) }
  if (op === 'unless') return { kind: 'vector', series: left.map(s => filter(s, i => !rightAt[i].has(sig(s.labels)))) }
  return { kind: 'vector', series: [...left, ...right.map(s => filter(s, i => !leftAt[i].has(sig(s.labels))))] }
}
