// One window of a range aggregation's lines, evaluated where it was sent (a scan worker): each line in the query's
// time goes through the pipeline, and its sample lands in its series' cell. The plan is compiled once per query
// and reused for every window of it.
import { isAscii } from 'node:buffer'
import type { Grouping, RangeAggregation } from './ast'
import { Cell, type WindowCells } from './cells'
import type { WorkerWindow } from '../query/scan'
import { labelKey, type Labels } from './labels'
import { neededLabels } from './needed'
import { UNUSUAL_IN_LINES } from './json-flat'
import { compilePipeline, numeric, predicate, type Entry, type Pipeline } from './pipeline'
import { fieldsAddon, PLAIN_NAME } from './fields'
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

/** A window of whole lines (`length` bytes of `data`) to evaluate. */
export interface WindowTask extends WorkerWindow {
  plan: RangePlan
  /** The stream's labels. */
  labels: Labels
  /** Where each piece of the window starts, and the time of the write it came with, ascending. */
  offsets: number[]
  timestamps: number[]
}

interface Compiled {
  pipeline: Pipeline
  post: Array<(labels: Labels) => boolean>
  /** A line's series key and, for a new key, its labels. */
  key: (labels: Labels) => string
  labelsOf: (labels: Labels) => Labels
  /** The fields the C fast path takes out of flat JSON lines, when the pipeline lets it (flatNames). */
  flat: string[] | null
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
  const needed = neededLabels(q, collapse)
  const c = {
    pipeline: compilePipeline(q.log.pipeline, needed),
    post: (q.unwrap?.post ?? []).map(predicate),
    ...keyer(q, collapse),
    flat: flatNames(q, needed),
  }
  compiled = { id: plan.id, c }
  return c
}

/**
 * The fields to take out of flat JSON lines in C, when what the pipeline gives a line is a function of those
 * fields' values alone: one `| json` without expressions, and label filters only (no line filter or formatting
 * reads the line itself), over the labels the answer reads (`needed`). Null otherwise.
 */
function flatNames (q: RangeAggregation, needed: Set<string> | null): string[] | null {
  const stages = q.log.pipeline
  const parsers = stages.filter(st => st.kind !== 'filter')
  if (parsers.length !== 1 || parsers[0].kind !== 'json' || parsers[0].extract.length > 0) return null
  const addon = fieldsAddon()
  if (needed === null || addon === null) return null
  // Other names are never a flat line's keys; more names, or a longer plain one, than C takes send every line the
  // slow way.
  const names = [...needed].filter(n => PLAIN_NAME.test(n))
  const { MAX_NAMES, MAX_NAME_BYTES } = addon.constants
  return names.length <= MAX_NAMES && names.every(n => n.length <= MAX_NAME_BYTES) ? names : null
}

/** Where a line's sample goes, and its value when the aggregation unwraps one. */
interface Sample { entry: Found, v: number }

/** A series found in the window: its labels and cells. */
interface Found {
  labels: Labels
  cells: Map<number, Cell>
  /** The cell the last sample went to: lines come in time order, so most go to the same one. */
  lastK: number
  last: Cell | null
}

export function evaluateWindow (task: WindowTask): WindowCells {
  const { plan, labels: streamLabels, offsets, timestamps } = task
  const { q, base, width, n } = plan
  const c = compile(plan)
  const buf = Buffer.from(task.data, 0, task.length)
  const keep = q.op === 'quantile_over_time'
  const found = new Map<string, Found>()
  /** The sample of a line the pipeline kept, or null when it has none. */
  const sampleOf = (e: Entry | null): Sample | null => {
    if (e === null) return null
    let v = NaN
    let lineLabels = e.labels
    if (q.unwrap) {
      const got = numeric(lineLabels[q.unwrap.label], q.unwrap.conversion ?? 'number')
      // A sample whose value does not convert is left out (Loki reports an error unless __error__ is filtered).
      if (got === null) return null
      v = got
      if (c.post.length > 0) {
        // The unwrapped label is gone for what follows: shadowed, since the labels may be chained (pipeline.ts).
        lineLabels = Object.create(lineLabels) as Labels
        ;(lineLabels as Record<string, string | undefined>)[q.unwrap.label] = undefined
        if (!c.post.every(p => p(lineLabels))) return null
      }
    }
    const key = c.key(lineLabels)
    let entry = found.get(key)
    if (!entry) found.set(key, entry = { labels: c.labelsOf(lineLabels), cells: new Map(), lastK: -1, last: null })
    return { entry, v }
  }
  // Flat JSON lines with the same values in the fields read give the same sample: the pipeline runs once per set
  // of values, on a line of just those fields, which it reads as it would the whole line.
  const addon = fieldsAddon()
  const flat = c.flat === null ? null : addon!.flatFields(buf, c.flat)
  const ofSet: Array<Sample | null | undefined> = []
  const setSample = (id: number): Sample | null => {
    const set = flat!.sets[id]
    const line = '{' + c.flat!.flatMap((name, j) => set[j] === null ? [] : [`"${name}":${set[j]}`]).join(',') + '}'
    return (ofSet[id] = sampleOf(c.pipeline({ line, labels: streamLabels, plain: true })))
  }
  // An ASCII window is decoded once, its lines cut out of that string (their offsets are the bytes'); any other
  // window line by line, from the bytes. Where C read the lines, only when one of them is left to the full parser.
  let view: { text: string | null, plain: boolean } | null = null
  const decode = (): { text: string | null, plain: boolean } => {
    const text = isAscii(buf) ? buf.toString('latin1') : null
    return { text, plain: text !== null && !UNUSUAL_IN_LINES.test(text) }
  }
  if (flat === null) view = decode()
  let piece = 0
  for (let i = 0, at = 0; at < buf.length; i++) {
    let end: number
    if (flat !== null) {
      end = flat.ends[i]
    } else {
      const text = view!.text
      const nl = text === null ? buf.indexOf(10, at) : text.indexOf('\n', at)
      end = nl < 0 ? buf.length : nl
    }
    while (piece + 1 < offsets.length && offsets[piece + 1] <= at) piece++
    const ts = timestamps[piece]
    const k = Math.ceil((ts - base) / width) - 1
    const line = at
    at = end + 1
    if (k < 0 || k >= n) continue
    const id = flat === null ? 0 : flat.ids[i]
    let s: Sample | null
    if (flat !== null && id !== addon!.constants.NOT_FLAT) {
      const known = ofSet[id]
      s = known === undefined ? setSample(id) : known
    } else {
      const { text, plain } = view ??= decode()
      const lineText = text === null ? buf.toString('utf8', line, end) : text.slice(line, end)
      s = sampleOf(c.pipeline({ line: lineText, labels: streamLabels, plain }))
    }
    if (s === null) continue
    const entry = s.entry
    let cell = entry.lastK === k ? entry.last : entry.cells.get(k)
    if (!cell) entry.cells.set(k, cell = new Cell())
    entry.lastK = k
    entry.last = cell
    cell.add(ts, q.unwrap ? s.v : end - line, keep)
  }
  return [...found].map(([key, { labels, cells }]) => ({ key, labels, cells: [...cells] }))
}
