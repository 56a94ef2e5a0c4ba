// LogQL text to the query logfs evaluates (ast.ts). The grammar is @grafana/lezer-logql, the one Grafana's own
// editor uses; this module only walks its syntax tree. A syntax error names the position (1-based line:column)
// and what the grammar expected there.
import { parser } from '@grafana/lezer-logql'
import type { SyntaxNode } from '@lezer/common'
import { QueryError } from '../query/errors'
import type {
  BinaryOp, CmpOp, Grouping, LabelMatcher, LabelPredicate, LineFilter, LogQuery, MatchOp, MetricQuery, Query,
  RangeAggregation, RangeOp, Stage, Unwrap, VectorOp,
} from './ast'
import { parseGoDuration, parseBytes } from './units'
import { toRegExp, unquote } from './literals'
import { checkSyntax, fail } from './syntax-error'

export function parseLogQL (text: string): Query {
  if (text.trim() === '') throw new QueryError('bad-input', 'the query is empty')
  const tree = parser.parse(text)
  checkSyntax(text, tree)
  return new Walker(text).expr(child(tree.topNode, 'Expr'))
}

function child (n: SyntaxNode, name: string): SyntaxNode {
  const c = n.getChild(name)
  if (c === null) throw new Error(`LogQL tree: no ${name} under ${n.name}`)
  return c
}

/** The nodes named `name` under `n`, in order. */
function descendants (n: SyntaxNode, name: string): SyntaxNode[] {
  const out: SyntaxNode[] = []
  for (let c = n.firstChild; c !== null; c = c.nextSibling) {
    if (c.name === name) out.push(c)
    else out.push(...descendants(c, name))
  }
  return out
}

const RANGE_OPS: Record<string, RangeOp> = {
  CountOverTime: 'count_over_time', Rate: 'rate', BytesOverTime: 'bytes_over_time', BytesRate: 'bytes_rate',
  AbsentOverTime: 'absent_over_time', SumOverTime: 'sum_over_time', AvgOverTime: 'avg_over_time',
  MinOverTime: 'min_over_time', MaxOverTime: 'max_over_time', QuantileOverTime: 'quantile_over_time',
  StddevOverTime: 'stddev_over_time', StdvarOverTime: 'stdvar_over_time', FirstOverTime: 'first_over_time',
  LastOverTime: 'last_over_time',
}

const CMP: Record<string, CmpOp> = { Eql: '==', Eq: '==', Neq: '!=', Gtr: '>', Gte: '>=', Lss: '<', Lte: '<=' }
const PRECEDENCE: Record<BinaryOp, number> = {
  or: 1, and: 2, unless: 2, '==': 3, '!=': 3, '>': 3, '>=': 3, '<': 3, '<=': 3,
  '+': 4, '-': 4, '*': 5, '/': 5, '%': 5, '^': 6,
}
const LINE_OPS: Record<string, LineFilter['op']> = { PipeExact: '|=', Neq: '!=', PipeMatch: '|~', Nre: '!~' }
const MATCH: Record<string, MatchOp> = { Eq: '=', Neq: '!=', Re: '=~', Nre: '!~' }

class Walker {
  constructor (private readonly text: string) {}

  private src (n: SyntaxNode): string { return this.text.slice(n.from, n.to) }

  private unsupported (n: SyntaxNode, what: string): never { fail(this.text, n.from, `${what} is not supported`) }

  /** A Go string literal: double-quoted with escapes, or back-quoted raw. */
  private string (n: SyntaxNode): string {
    const s = this.src(n)
    if (s.startsWith('`')) return s.slice(1, -1)
    const out = unquote(s)
    if (out === null) fail(this.text, n.from, `${s} is not a valid string`)
    return out
  }

  expr (n: SyntaxNode): Query {
    const log = n.getChild('LogExpr')
    if (log) return this.log(log)
    return this.metric(child(n, 'MetricExpr'))
  }

  private subMetric (n: SyntaxNode): MetricQuery {
    const q = this.expr(n)
    if (q.kind === 'log') fail(this.text, n.from, 'expected a metric query here, not a log query')
    return q
  }

  private metric (n: SyntaxNode): MetricQuery {
    const inner = n.firstChild
    if (inner === null) throw new Error('LogQL tree: empty MetricExpr')
    switch (inner.name) {
      case 'RangeAggregationExpr': return this.rangeAgg(inner)
      case 'VectorAggregationExpr': return this.vectorAgg(inner)
      case 'BinOpExpr': return this.binary(inner)
      case 'LiteralExpr': return { kind: 'number', value: this.number(inner) }
      case 'VectorExpr': return { kind: 'vector_literal', value: this.number(child(inner, 'Number')) }
      case 'MetricExpr': return this.metric(inner)
      // A parenthesised expression.
      case 'Expr': return this.subMetric(inner)
      default: return this.unsupported(inner, this.src(inner).split(/[ (]/)[0] || inner.name)
    }
  }

  private number (n: SyntaxNode): number {
    const sign = n.getChild('Sub') ? -1 : 1
    return sign * Number(this.src(n.getChild('Number') ?? n).replace(/^[-+]/, ''))
  }

  private log (n: SyntaxNode): LogQuery {
    const pipeline = n.getChild('PipelineExpr')
    const selector = this.selector(child(n, 'Selector'))
    return { kind: 'log', selector, pipeline: pipeline ? this.pipeline(pipeline) : [] }
  }

  private selector (n: SyntaxNode): LabelMatcher[] {
    const matchers = n.getChild('Matchers')
    return matchers ? n.getChildren('Matchers').flatMap(m => this.matchers(m)) : []
  }

  private matchers (n: SyntaxNode): LabelMatcher[] {
    const nested = n.getChildren('Matchers').flatMap(m => this.matchers(m))
    return [...nested, ...n.getChildren('Matcher').map(m => this.matcher(m))]
  }

  private matcher (n: SyntaxNode): LabelMatcher {
    const name = this.src(child(n, 'Identifier'))
    const opNode = child(n, 'Identifier').nextSibling!
    const op = MATCH[opNode.name]
    if (op === undefined) this.unsupported(opNode, `label operator ${this.src(opNode)}`)
    const value = this.string(child(n, 'String'))
    if (op === '=~' || op === '!~') anchored(value, this.text, n.from)
    return { name, op, value }
  }

  /** Stages in order: the grammar nests a pipeline left-recursively. */
  private pipeline (n: SyntaxNode): Stage[] {
    const out: Stage[] = []
    for (let c = n.firstChild; c !== null; c = c.nextSibling) {
      if (c.name === 'PipelineExpr') out.push(...this.pipeline(c))
      else if (c.name === 'PipelineStage') out.push(this.stage(c))
    }
    return out
  }

  private stage (n: SyntaxNode): Stage {
    let s = n.firstChild!
    if (s.name === 'Pipe') s = s.nextSibling!
    switch (s.name) {
      case 'LineFilters': return { kind: 'line', filters: this.lineFilters(s) }
      case 'LabelParser': case 'LogfmtParser': {
        const kind = s.firstChild!.name
        if (kind === 'Json') return { kind: 'json', extract: [] }
        if (kind === 'Logfmt') return { kind: 'logfmt', extract: [] }
        const arg = this.string(child(s, 'String'))
        if (kind === 'Regexp') return { kind: 'regexp', re: goRegExp(arg, this.text, s.from) }
        if (kind === 'Pattern') return { kind: 'pattern', pattern: arg }
        return this.unsupported(s, this.src(s.firstChild!))
      }
      case 'JsonExpressionParser': case 'LogfmtExpressionParser': {
        const list = s.getChild('LabelExtractionExpressionList')
        const extract = list ? this.extractions(list) : []
        return { kind: s.name === 'JsonExpressionParser' ? 'json' : 'logfmt', extract }
      }
      case 'LabelFilter': return { kind: 'filter', predicate: this.labelFilter(s) }
      case 'LineFormatExpr': return { kind: 'line_format', template: this.string(child(s, 'String')) }
      case 'LabelFormatExpr': return { kind: 'label_format', renames: this.labelFormats(child(s, 'LabelsFormat')) }
      case 'DecolorizeExpr': return { kind: 'decolorize' }
      case 'DropLabelsExpr': case 'KeepLabelsExpr': {
        const kind = s.name === 'DropLabelsExpr' ? 'drop' : 'keep'
        const names: string[] = []
        const matchers: LabelMatcher[] = []
        this.walkLabels(s, kind === 'drop' ? 'DropLabel' : 'KeepLabel', names, matchers)
        return { kind, names, matchers }
      }
      default: return this.unsupported(s, this.src(s).split(/\s/)[0])
    }
  }

  private walkLabels (n: SyntaxNode, name: string, names: string[], matchers: LabelMatcher[]): void {
    for (let c = n.firstChild; c !== null; c = c.nextSibling) {
      if (c.name === name) {
        const m = c.getChild('Matcher')
        if (m) matchers.push(this.matcher(m))
        else names.push(this.src(child(c, 'Identifier')))
      } else {
        this.walkLabels(c, name, names, matchers)
      }
    }
  }

  private extractions (n: SyntaxNode): Array<{ label: string, path: string | null }> {
    const out: Array<{ label: string, path: string | null }> = []
    for (let c = n.firstChild; c !== null; c = c.nextSibling) {
      if (c.name === 'LabelExtractionExpressionList') out.push(...this.extractions(c))
      if (c.name === 'LabelExtractionExpression') {
        const str = c.getChild('String')
        out.push({ label: this.src(child(c, 'Identifier')), path: str ? this.string(str) : null })
      }
    }
    return out
  }

  private labelFormats (n: SyntaxNode): Array<{ to: string, from: string | null, template: string | null }> {
    const out: Array<{ to: string, from: string | null, template: string | null }> = []
    for (let c = n.firstChild; c !== null; c = c.nextSibling) {
      if (c.name === 'LabelsFormat') out.push(...this.labelFormats(c))
      if (c.name === 'LabelFormatMatcher') {
        const ids = c.getChildren('Identifier')
        const str = c.getChild('String')
        const template = str ? this.string(str) : null
        out.push({ to: this.src(ids[0]), from: ids[1] ? this.src(ids[1]) : null, template })
      }
    }
    return out
  }

  private lineFilters (n: SyntaxNode): LineFilter[] {
    const out: LineFilter[] = []
    for (let c = n.firstChild; c !== null; c = c.nextSibling) {
      if (c.name === 'LineFilters') out.push(...this.lineFilters(c))
      if (c.name !== 'LineFilter') continue
      const opNode = child(c, 'Filter').firstChild!
      const op = LINE_OPS[opNode.name]
      if (op === undefined) this.unsupported(opNode, `line filter ${this.src(opNode)}`)
      if (c.getChild('FilterOp')) this.unsupported(c.getChild('FilterOp')!, 'ip() in a line filter')
      const values = [c.getChild('String')!, ...c.getChildren('OrFilter').map(o => child(o, 'String'))]
        .map(v => this.string(v))
      if (op === '|~' || op === '!~') for (const v of values) goRegExp(v, this.text, c.from)
      out.push({ op, values })
    }
    return out
  }

  private labelFilter (n: SyntaxNode): LabelPredicate {
    const parts = n.getChildren('LabelFilter')
    if (parts.length === 2) {
      const [left, right] = parts.map(p => this.labelFilter(p))
      return { kind: n.getChild('Or') ? 'or' : 'and', left, right }
    }
    if (parts.length === 1) return this.labelFilter(parts[0])
    const c = n.firstChild!
    if (c.name === 'Matcher') return { kind: 'match', matcher: this.matcher(c) }
    if (c.name === 'IpLabelFilter') return this.unsupported(c, 'ip() in a label filter')
    const f = c.name === 'UnitFilter' ? c.firstChild! : c
    const name = this.src(child(f, 'Identifier'))
    const opNode = child(f, 'Identifier').nextSibling!
    const op = CMP[opNode.name]
    if (f.name === 'DurationFilter') {
      const seconds = parseGoDuration(this.src(child(f, 'Duration'))) / 1000
      return { kind: 'compare', name, op, value: seconds, unit: 'duration' }
    }
    if (f.name === 'BytesFilter') {
      return { kind: 'compare', name, op, value: parseBytes(this.src(child(f, 'Bytes'))), unit: 'bytes' }
    }
    return { kind: 'compare', name, op, value: this.number(child(f, 'LiteralExpr')), unit: 'number' }
  }

  private grouping (n: SyntaxNode | null): Grouping | null {
    if (n === null) return null
    const names = descendants(n, 'Identifier').map(c => this.src(c))
    return { mode: n.getChild('Without') ? 'without' : 'by', labels: names }
  }

  private rangeAgg (n: SyntaxNode): RangeAggregation {
    const opNode = child(n, 'RangeOp').firstChild!
    const op = RANGE_OPS[opNode.name]
    if (op === undefined) this.unsupported(opNode, this.src(opNode))
    const r = child(n, 'LogRangeExpr')
    const pipeline = r.getChildren('PipelineExpr').flatMap(p => this.pipeline(p))
    const log: LogQuery = { kind: 'log', selector: this.selector(child(r, 'Selector')), pipeline }
    const unwrapNode = r.getChild('UnwrapExpr')
    const unwrap = unwrapNode ? this.unwrap(unwrapNode) : null
    const unwrapped = !['count_over_time', 'rate', 'bytes_over_time', 'bytes_rate', 'absent_over_time'].includes(op)
    if (unwrapped && unwrap === null) fail(this.text, n.from, `${op} needs an unwrap stage: | unwrap <label>`)
    if (!unwrapped && unwrap !== null) fail(this.text, unwrapNode!.from, `${op} does not take an unwrap stage`)
    const offset = r.getChild('OffsetExpr')
    const param = n.getChild('Number')
    if (op === 'quantile_over_time' && param === null) fail(this.text, n.from, 'quantile_over_time needs a quantile')
    return {
      kind: 'range',
      op,
      param: param ? Number(this.src(param)) : null,
      log,
      unwrap,
      range: parseGoDuration(this.src(child(child(r, 'Range'), 'Duration'))),
      offset: offset ? parseGoDuration(this.src(child(offset, 'Duration'))) : 0,
      grouping: this.grouping(n.getChild('Grouping')),
    }
  }

  private unwrap (n: SyntaxNode): Unwrap {
    if (n.getChild('UnwrapExpr')) {
      // A label filter after the unwrap: `| unwrap x | x > 0`.
      const inner = this.unwrap(child(n, 'UnwrapExpr'))
      inner.post.push(this.labelFilter(child(n, 'LabelFilter')))
      return inner
    }
    const conv = n.getChild('ConvOp')
    const kind = conv?.firstChild?.name
    if (kind === 'DurationSecondsConv') this.unsupported(conv!, 'duration_seconds()')
    return {
      label: this.src(child(n, 'Identifier')),
      conversion: kind === 'DurationConv' ? 'duration' : kind === 'BytesConv' ? 'bytes' : null,
      post: [],
    }
  }

  private vectorAgg (n: SyntaxNode): MetricQuery {
    const opNode = child(n, 'VectorOp').firstChild!
    const op = this.src(opNode) as VectorOp
    const param = n.getChild('Number')
    if ((op === 'topk' || op === 'bottomk') && param === null) fail(this.text, n.from, `${op} needs a count`)
    return {
      kind: 'vector',
      op,
      param: param ? Number(this.src(param)) : null,
      grouping: this.grouping(n.getChild('Grouping')),
      inner: this.metric(child(n, 'MetricExpr')),
    }
  }

  /**
   * A chain of binary operations. The grammar nests them without operator precedence, so the chain is flattened
   * (a parenthesised operand stays whole: it is a MetricExpr inside a MetricExpr) and rebuilt by Prometheus's
   * precedence: ^ (right-associative), then * / %, + -, comparisons, and/unless, or.
   */
  private binary (n: SyntaxNode): MetricQuery {
    const operands: SyntaxNode[] = []
    const ops: SyntaxNode[] = []
    const flatten = (b: SyntaxNode): void => {
      const [l, r] = b.getChildren('Expr')
      for (const side of [l, r]) {
        const inner = side.firstChild?.name === 'MetricExpr' ? side.firstChild.firstChild : null
        if (inner?.name === 'BinOpExpr') flatten(inner)
        else operands.push(side)
        if (side === l) ops.push(l.nextSibling!)
      }
    }
    flatten(n)
    const terms = operands.map(o => this.subMetric(o))
    const build = (lo: number, hi: number): MetricQuery => {
      if (lo === hi) return terms[lo]
      // The operator that binds loosest splits the chain: the last of its level, or the first for ^.
      let split = -1
      for (let i = lo; i < hi; i++) {
        const p = PRECEDENCE[this.opOf(ops[i])]
        const best = split < 0 ? Infinity : PRECEDENCE[this.opOf(ops[split])]
        if (p < best || (p === best && p !== PRECEDENCE['^'])) split = i
      }
      return this.operation(ops[split], build(lo, split), build(split + 1, hi))
    }
    return build(0, terms.length - 1)
  }

  private opOf (n: SyntaxNode): BinaryOp { return (CMP[n.name] ?? this.src(n)) }

  private operation (opNode: SyntaxNode, left: MetricQuery, right: MetricQuery): MetricQuery {
    const mod = opNode.nextSibling?.name === 'BinOpModifier' ? opNode.nextSibling : null
    const on = mod?.getChild('OnOrIgnoringModifier') ?? null
    let matching: Grouping | null = null
    if (on !== null) {
      if (mod!.getChild('GroupLeft') || mod!.getChild('GroupRight')) this.unsupported(mod!, 'group_left/group_right')
      const labels = descendants(on, 'LabelName').map(c => this.src(c))
      matching = { mode: on.getChild('On') ? 'by' : 'without', labels }
    }
    const bool = mod?.getChild('Bool') != null
    return { kind: 'binary', op: this.opOf(opNode), bool, matching, left, right }
  }

}

/** A regular expression of the query, or a parse error at its position. */
function goRegExp (pattern: string, text: string, at: number): RegExp {
  try {
    return toRegExp(pattern)
  } catch (err) {
    fail(text, at, `invalid regular expression: ${(err as Error).message}`)
  }
}

/** Label matchers' regular expressions match the whole value, as Prometheus's do. */
function anchored (value: string, text: string, at: number): RegExp {
  return goRegExp(`^(?:${value})$`, text, at)
}
