// The lines behind a point of a metric query: the log query inside its first range aggregation (stream selector
// and pipeline, without the unwrap, range and offset), narrowed to one series by label filters, over the time
// range the point counted. Pure and synchronous, so the console bundles it with the grammar.
import { parser } from '@grafana/lezer-logql'
import type { SyntaxNode } from '@lezer/common'
import { parseGoDuration } from './units'

export interface LogPart {
  /** The log query, as LogQL text. */
  log: string
  /** The range and offset of the aggregation, in ms. */
  range: number
  offset: number
}

/** The log part of `text`'s first range aggregation; null when it has none (a log query, a number). */
export function logPartOf (text: string): LogPart | null {
  let found: SyntaxNode | null = null
  parser.parse(text).iterate({
    enter: n => {
      if (found !== null) return false
      if (n.name === 'LogRangeExpr') { found = n.node; return false }
    },
  })
  if (found === null) return null
  const r: SyntaxNode = found
  const src = (n: SyntaxNode): string => text.slice(n.from, n.to)
  const selector = r.getChild('Selector')
  const range = r.getChild('Range')?.getChild('Duration')
  if (!selector || !range) return null
  const offset = r.getChild('OffsetExpr')?.getChild('Duration')
  return {
    log: [selector, ...r.getChildren('PipelineExpr')].map(src).join(' '),
    range: parseGoDuration(src(range)),
    offset: offset ? parseGoDuration(src(offset)) : 0,
  }
}

/** A LogQL string literal of `value`: Go's escapes for quote, backslash and control characters, as JSON has. */
const quote = (value: string): string => JSON.stringify(value)

/** Label names LogQL accepts in a label filter; others (Loki's `__error__` among them) cannot be narrowed on. */
const LABEL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

/**
 * The log query behind the point at `t` (ms) of the series with `labels`: the series' labels as label filters
 * after the pipeline (so labels a parser extracts narrow too), over the range the point counted, (from, to].
 */
export function linesBehind (part: LogPart, labels: Record<string, string>, t: number):
  { query: string, from: number, to: number } {
  const filters = Object.entries(labels).filter(([k]) => LABEL_NAME.test(k)).map(([k, v]) => ` | ${k}=${quote(v)}`)
  const to = t - part.offset
  return { query: part.log + filters.join(''), from: to - part.range, to }
}
