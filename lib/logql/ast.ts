// The LogQL query as logfs evaluates it: parse.ts builds it from @grafana/lezer-logql's syntax tree.

export type MatchOp = '=' | '!=' | '=~' | '!~'

/** A label matcher of a stream selector or a label filter. */
export interface LabelMatcher { name: string, op: MatchOp, value: string }

export type CmpOp = '==' | '!=' | '>' | '>=' | '<' | '<='

/** A line filter: the line must (or must not) hold one of `values` (several when joined by `or`). */
export interface LineFilter { op: '|=' | '!=' | '|~' | '!~', values: string[] }

export type LabelPredicate =
  | { kind: 'and', left: LabelPredicate, right: LabelPredicate }
  | { kind: 'or', left: LabelPredicate, right: LabelPredicate }
  | { kind: 'match', matcher: LabelMatcher }
  /** A label read as a number, a duration (compared in seconds) or a size (in bytes). */
  | { kind: 'compare', name: string, op: CmpOp, value: number, unit: 'number' | 'duration' | 'bytes' }

export type Stage =
  | { kind: 'line', filters: LineFilter[] }
  | { kind: 'json' | 'logfmt', extract: Array<{ label: string, path: string | null }> }
  | { kind: 'regexp', re: RegExp }
  | { kind: 'pattern', pattern: string }
  | { kind: 'filter', predicate: LabelPredicate }
  | { kind: 'line_format', template: string }
  | { kind: 'label_format', renames: Array<{ to: string, from: string | null, template: string | null }> }
  | { kind: 'drop' | 'keep', names: string[], matchers: LabelMatcher[] }
  | { kind: 'decolorize' }

export interface LogQuery { kind: 'log', selector: LabelMatcher[], pipeline: Stage[] }

export type RangeOp = 'count_over_time' | 'rate' | 'bytes_over_time' | 'bytes_rate' | 'absent_over_time' |
  'sum_over_time' | 'avg_over_time' | 'min_over_time' | 'max_over_time' | 'quantile_over_time' |
  'stddev_over_time' | 'stdvar_over_time' | 'first_over_time' | 'last_over_time'

export interface Unwrap { label: string, conversion: 'duration' | 'bytes' | null, post: LabelPredicate[] }

export interface Grouping { mode: 'by' | 'without', labels: string[] }

export interface RangeAggregation {
  kind: 'range'
  op: RangeOp
  /** The quantile of quantile_over_time. */
  param: number | null
  log: LogQuery
  unwrap: Unwrap | null
  /** The range and offset, in ms. */
  range: number
  offset: number
  grouping: Grouping | null
}

export type VectorOp = 'sum' | 'avg' | 'min' | 'max' | 'count' | 'stddev' | 'stdvar' | 'topk' | 'bottomk' |
  'sort' | 'sort_desc'

export interface VectorAggregation {
  kind: 'vector'
  op: VectorOp
  param: number | null
  grouping: Grouping | null
  inner: MetricQuery
}

export type BinaryOp = '+' | '-' | '*' | '/' | '%' | '^' | CmpOp | 'and' | 'or' | 'unless'

export interface Binary {
  kind: 'binary'
  op: BinaryOp
  /** A comparison with `bool` gives 0 or 1 instead of filtering. */
  bool: boolean
  /** on(...)/ignoring(...): which labels match the sides' series; null matches on all labels. */
  matching: Grouping | null
  left: MetricQuery
  right: MetricQuery
}

export interface NumberLiteral { kind: 'number', value: number }

/** `vector(n)`: one series without labels, `n` at every step (Grafana's data source test sends vector(1)+vector(1)). */
export interface VectorLiteral { kind: 'vector_literal', value: number }

export type MetricQuery = RangeAggregation | VectorAggregation | Binary | NumberLiteral | VectorLiteral

export type Query = LogQuery | MetricQuery
