// A log query's pipeline as one function of a line and its labels: line filters, parsers, label filters and the
// formatting stages, in the order written. A line a stage drops gives null.
import { QueryError } from '../query/errors'
import type { LabelPredicate, LineFilter, Stage } from './ast'
import { matcherTest, type Labels } from './labels'
import { jsonLabels, jsonPath, logfmtLabels, patternRegExp, sanitize } from './extract'
import { goDurationMs, bytesOf } from './units'
import { toRegExp } from './literals'

export interface Entry {
  line: string
  labels: Labels
  /** Set when the line is known to be ASCII without escapes or control characters; stages that make a line drop it. */
  plain?: boolean
}

export type Pipeline = (e: Entry) => Entry | null

/** `only`: the labels the answer reads (needed.ts); the json and logfmt parsers extract just those. */
export function compilePipeline (stages: Stage[], only: ReadonlySet<string> | null = null): Pipeline {
  const steps = stages.map(s => compileStage(s, only))
  return entry => {
    let e: Entry | null = entry
    for (const step of steps) {
      e = step(e)
      if (e === null) return null
    }
    return e
  }
}

/**
 * Labels a parser found: one that a stream label already has is added with the suffix `_extracted`, as Loki does.
 * `chained` (when only passive stages follow, needed.ts) puts them on an object whose prototype is the line's
 * labels, so the stream labels are not copied for every line; every later reader looks labels up by name.
 */
function extend (e: Entry, found: Labels, chained: boolean): Entry {
  const labels: Labels = chained ? Object.create(e.labels) as Labels : { ...e.labels }
  for (const k in found) labels[k in e.labels && k !== '__error__' ? `${k}_extracted` : k] = found[k]
  return { line: e.line, labels, plain: e.plain }
}

function compileStage (stage: Stage, only: ReadonlySet<string> | null): (e: Entry) => Entry | null {
  switch (stage.kind) {
    case 'line': {
      const tests = stage.filters.map(lineTest)
      return e => tests.every(t => t(e.line)) ? e : null
    }
    case 'json': return parserStage((line, plain) => {
      if (stage.extract.length === 0) return jsonLabels(line, only, plain)
      const out: Labels = {}
      for (const x of stage.extract) {
        const v = jsonPath(line, x.path ?? x.label)
        if (v !== undefined) out[x.label] = v
      }
      return out
    }, only !== null)
    case 'logfmt': return parserStage(line => {
      if (stage.extract.length === 0) return logfmtLabels(line, only)
      const all = logfmtLabels(line)
      const out: Labels = {}
      for (const x of stage.extract) {
        const v = all[sanitize(x.path ?? x.label)]
        if (v !== undefined) out[x.label] = v
      }
      return out
    }, only !== null)
    case 'regexp': return parserStage(line => stage.re.exec(line)?.groups ?? {}, only !== null)
    case 'pattern': {
      const { re, names } = patternRegExp(stage.pattern)
      return parserStage(line => {
        const m = re.exec(line)
        return m ? Object.fromEntries(names.map((n, i) => [n, m[i + 1]])) : {}
      }, only !== null)
    }
    case 'filter': {
      const test = predicate(stage.predicate)
      return e => test(e.labels) ? e : null
    }
    case 'line_format': {
      const render = template(stage.template)
      return e => ({ line: render(e), labels: e.labels })
    }
    case 'label_format': {
      const renders = stage.renames.map(r => ({ ...r, render: r.template === null ? null : template(r.template) }))
      return e => {
        const labels = { ...e.labels }
        for (const r of renders) {
          if (r.render) {
            labels[r.to] = r.render(e)
          } else if (r.from !== null) {
            labels[r.to] = e.labels[r.from] ?? ''
            if (r.from !== r.to) delete labels[r.from]
          }
        }
        return { line: e.line, labels }
      }
    }
    case 'drop': case 'keep': {
      const names = new Set(stage.names)
      const matchers = stage.matchers.map(m => ({ name: m.name, test: matcherTest(m) }))
      const named = (k: string, v: string): boolean => names.has(k) || matchers.some(m => m.name === k && m.test(v))
      const keep = stage.kind === 'keep'
      return e => ({
        line: e.line,
        labels: Object.fromEntries(Object.entries(e.labels).filter(([k, v]) => named(k, v) === keep)),
      })
    }
    case 'decolorize':
       
      return e => ({ line: e.line.replace(/\x1b\[[0-9;]*m/g, ''), labels: e.labels })
  }
}

/** A parser stage; a line it cannot parse keeps its labels and gets `__error__`, as in Loki. */
function parserStage (parse: (line: string, plain: boolean) => Labels | null, chained: boolean):
  (e: Entry) => Entry {
  return e => {
    const found = parse(e.line, e.plain === true)
    return extend(e, found ?? { __error__: 'ParserError' }, chained)
  }
}

function lineTest (f: LineFilter): (line: string) => boolean {
  if (f.op === '|=') return line => f.values.some(v => line.includes(v))
  if (f.op === '!=') return line => !f.values.some(v => line.includes(v))
  const res = f.values.map(v => toRegExp(v))
  if (f.op === '|~') return line => res.some(re => re.test(line))
  return line => !res.some(re => re.test(line))
}

/** A label's value as the unit a comparison uses: seconds for durations, bytes for sizes. */
export function numeric (value: string | undefined, unit: 'number' | 'duration' | 'bytes'): number | null {
  if (value === undefined || value === '') return null
  if (unit === 'duration') {
    const ms = goDurationMs(value)
    return ms === null ? null : ms / 1000
  }
  if (unit === 'bytes') return bytesOf(value)
  const n = Number(value)
  return Number.isNaN(n) ? null : n
}

export function predicate (p: LabelPredicate): (labels: Labels) => boolean {
  if (p.kind === 'and') {
    const [l, r] = [predicate(p.left), predicate(p.right)]
    return labels => l(labels) && r(labels)
  }
  if (p.kind === 'or') {
    const [l, r] = [predicate(p.left), predicate(p.right)]
    return labels => l(labels) || r(labels)
  }
  if (p.kind === 'match') {
    const test = matcherTest(p.matcher)
    return labels => test(labels[p.matcher.name] ?? '')
  }
  const { name, op, value, unit } = p
  return labels => {
    const n = numeric(labels[name], unit)
    // A value that is not a number of the unit does not pass (Loki keeps it, marked with __error__).
    return n !== null && compare(op, n, value)
  }
}

export function compare (op: string, a: number, b: number): boolean {
  switch (op) {
    case '==': return a === b
    case '!=': return a !== b
    case '>': return a > b
    case '>=': return a >= b
    case '<': return a < b
    default: return a <= b
  }
}

/** A Go text/template of the subset LogQL users write most: `{{.label}}` and `{{__line__}}`. */
function template (text: string): (e: Entry) => string {
  const parts = text.split(/\{\{-?\s*(.*?)\s*-?\}\}/s)
  for (let i = 1; i < parts.length; i += 2) {
    if (!/^(\.[A-Za-z_][A-Za-z0-9_]*|__line__)$/.test(parts[i])) {
      throw new QueryError('bad-input',
        `template {{${parts[i]}}}: only {{.label}} and {{__line__}} are supported in line_format and label_format`)
    }
  }
  return e => parts.map((p, i) => i % 2 === 0 ? p : p === '__line__' ? e.line : e.labels[p.slice(1)] ?? '').join('')
}
