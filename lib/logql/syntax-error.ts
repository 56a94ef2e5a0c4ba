// A LogQL syntax error as the user reads it: the position (1-based line and column) and what the grammar
// expected there, named by the syntax node the error sits in.
import type { SyntaxNode, Tree } from '@lezer/common'
import { QueryError } from '../query/errors'

/** What the grammar wanted where a syntax error is, by the node the error sits in. */
const EXPECTED: Record<string, string> = {
  Selector: 'a label matcher or }',
  Matchers: 'a label matcher',
  Matcher: 'a label name, =, !=, =~ or !~, then a quoted string',
  LineFilter: 'a quoted string',
  LineFilters: 'a quoted string',
  PipelineStage: 'a parser, label filter or formatting stage after |',
  LogRangeExpr: 'a range such as [5m]',
  RangeAggregationExpr: 'a log query with a range, such as {app="x"} [5m]',
  VectorAggregationExpr: 'a metric query in parentheses',
  LabelFilter: 'a comparison of a label with a string, number, duration or size',
}

export function fail (text: string, at: number, message: string): never {
  const before = text.slice(0, at)
  const line = before.split('\n').length
  const column = at - before.lastIndexOf('\n')
  throw new QueryError('bad-input', `parse error at line ${line}, column ${column}: ${message}`)
}

/** Throws for the first error node of `tree`, the parse of `text`. */
export function checkSyntax (text: string, tree: Tree): void {
  let error: SyntaxNode | null = null
  tree.iterate({
    enter: n => {
      if (error !== null) return false
      if (n.type.isError) error = n.node
    },
  })
  if (error === null) return
  const node: SyntaxNode = error
  const found = text.slice(node.from, Math.max(node.to, node.from + 1)).trim()
  const wanted = EXPECTED[node.parent?.name ?? ''] ?? 'a valid LogQL expression'
  fail(text, node.from, `${found ? `unexpected "${found}"` : 'unexpected end of query'}, expected ${wanted}`)
}
