// One window of a range aggregation's lines, evaluated where it was sent (a scan worker): each line in the query's
// time goes through the pipeline, and its sample lands in its series' cell. The plan is compiled once per query
// and reused for every window of it.
import { isAscii } from 'node:buffer'
import type { Grouping, RangeAggregation } from './ast'
import { Cell, type WindowCells } from './cells'
import { labelKey, type Labels } from './labels'
import { neededLabels } from './needed'
import { UNUSUAL_IN_LINES } from './json-flat'
import { compilePipeline, numeric, predicate, type Pipeline } from './pipeline'
import { groupLabels } from './series'

/** What a worker needs of a range aggregation: plain data, sent with every window. */
export interface RangePlan {
  /** Names the query, so a worker compiles it once. */
  id: string
  q: RangeAggregation
  collapse: Grouping | null
  /** Cell k holds the times (base + k·width, base + (k+1)·width]; there are n cells. */
  base: number
  width: number
  n: number
}

export interface WindowTask {
  plan: RangePlan
  /** The stream's labels. */
  labels: Labels
  /** The window's whole lines: `length` bytes of `data`. */
  data: ArrayBuffer
  length: number
  /** Where each piece of the window starts, and the time of the write it came with, ascending. */
  offsets: number[]
  timestamps: number[]
}

/** A window's answer: its cells, and its memory handed back. */
export interface WindowDone { cells: WindowCells, data: ArrayBuffer }

interface Compiled {
  pipeline: Pipeline
  post: Array<(labels: Labels) => boolean>
  /** A line's series key and, for a new key, its labels. */
  key: (labels: Labels) => string
  labelsOf: (labels: Labels) => Labels
}

/**
 * The series key of a line's labels. Under one `by` grouping it is built from the grouped names alone, with no
 * label object per line; it equals labelKey(groupLabels(...)) of the general path.
 */
function keyer (q: RangeAggregation, collapse: Grouping | null): Pick<Compiled, 'key' | 'labelsOf'> {
  const grouping = q.unwrap ? q.grouping : null
  const only = collapse !== null && grouping !== null ? null : collapse ?? grouping
  if (only?.mode === 'by') {
    const names = [...new Set(only.labels)].filter(n => n !== '__error__' && n !== q.unwrap?.label).sort()
    const labelsOf = (labels: Labels): Labels => {
      const out: Labels = {}
      for (const n of names) if (labels[n] !== undefined) out[n] = labels[n]
      return out
    }
    const keyOf = (labels: Labels): string =>
      JSON.stringify(names.filter(n => labels[n] !== undefined).map(n => [n, labels[n]]))
    if (names.length !== 1) return { key: keyOf, labelsOf }
    // One name: its value finds the key, with no string built per line.
    const [name] = names
    const keys = new Map<string | undefined, string>()
    const key = (labels: Labels): string => {
      const v = labels[name]
      let k = keys.get(v)
      if (k === undefined) {
        k = keyOf(labels)
        if (keys.size < MAX_KEYS) keys.set(v, k)
      }
      return k
    }
    return { key, labelsOf }
  }
  const labelsOf = (labels: Labels): Labels => {
    // for-in: a parser's labels may sit on the line's labels as their prototype (pipeline.ts).
    let out: Labels = {}
    for (const k in labels) if (labels[k] !== undefined) out[k] = labels[k]
    if (q.unwrap) delete out[q.unwrap.label]
    if (grouping) out = groupLabels(out, grouping.mode, grouping.labels)
    if (collapse) out = groupLabels(out, collapse.mode, collapse.labels)
    delete out.__error__
    return out
  }
  return { key: labels => labelKey(labelsOf(labels)), labelsOf }
}

/** Keys kept per value of a one-name grouping; a label with more values than this is keyed line by line. */
const MAX_KEYS = 10_000

let compiled: { id: string, c: Compiled } | null = null

function compile (plan: RangePlan): Compiled {
  if (compiled?.id === plan.id) return compiled.c
  const { q, collapse } = plan
  const c = {
    pipeline: compilePipeline(q.log.pipeline, neededLabels(q, collapse)),
    post: (q.unwrap?.post ?? []).map(predicate),
    ...keyer(q, collapse),
  }
  compiled = { id: plan.id, c }
  return c
}

export function evaluateWindow (task: WindowTask): WindowCells {
  const { plan, labels: streamLabels, offsets, timestamps } = task
  const { q, base, width, n } = plan
  const c = compile(plan)
  const buf = Buffer.from(task.data, 0, task.length)
  const keep = q.op === 'quantile_over_time'
  const found = new Map<string, { labels: Labels, cells: Map<number, Cell> }>()
  // An ASCII window is decoded once, its lines cut out of that string (their offsets are the bytes'); any other
  // window line by line, from the bytes.
  const text = isAscii(buf) ? buf.toString('latin1') : null
  const plain = text !== null && !UNUSUAL_IN_LINES.test(text)
  let piece = 0
  for (let at = 0; at < buf.length;) {
    const nl = text === null ? buf.indexOf(10, at) : text.indexOf('\n', at)
    const end = nl < 0 ? buf.length : nl
    while (piece + 1 < offsets.length && offsets[piece + 1] <= at) piece++
    const ts = timestamps[piece]
    const k = Math.ceil((ts - base) / width) - 1
    const line = at
    at = end + 1
    if (k < 0 || k >= n) continue
    const lineText = text === null ? buf.toString('utf8', line, end) : text.slice(line, end)
    const e = c.pipeline({ line: lineText, labels: streamLabels, plain })
    if (e === null) continue
    let v = end - line
    let lineLabels = e.labels
    if (q.unwrap) {
      const got = numeric(lineLabels[q.unwrap.label], q.unwrap.conversion ?? 'number')
      // A sample whose value does not convert is left out (Loki reports an error unless __error__ is filtered).
      if (got === null) continue
      v = got
      if (c.post.length > 0) {
        // The unwrapped label is gone for what follows: shadowed, since the labels may be chained (pipeline.ts).
        lineLabels = Object.create(lineLabels) as Labels
        ;(lineLabels as Record<string, string | undefined>)[q.unwrap.label] = undefined
        if (!c.post.every(p => p(lineLabels))) continue
      }
    }
    const key = c.key(lineLabels)
    let entry = found.get(key)
    if (!entry) found.set(key, entry = { labels: c.labelsOf(lineLabels), cells: new Map() })
    let cell = entry.cells.get(k)
    if (!cell) entry.cells.set(k, cell = new Cell())
    cell.add(ts, v, keep)
  }
  return [...found].map(([key, { labels, cells }]) => ({ key, labels, cells: [...cells] }))
}
