// The labels a range aggregation's answer depends on, so its parsers extract only those (as Loki's do when a query
// names them): `| json` under `sum by (level)` takes out `level`, not every field. A parser stage's output is the
// full extraction's restricted to these names, and every later stage reads only them, so the answer is the same.
import type { Grouping, LabelPredicate, RangeAggregation, Stage } from './ast'

function predicateNames (p: LabelPredicate, out: Set<string>): void {
  if (p.kind === 'and' || p.kind === 'or') {
    predicateNames(p.left, out)
    predicateNames(p.right, out)
  } else {
    out.add(p.kind === 'match' ? p.matcher.name : p.name)
  }
}

/**
 * The label names the answer reads, or null when it may read any: when its series keep every label (no `by`
 * grouping over them), or a stage after the first parser rewrites lines or labels (line_format, label_format,
 * drop, keep). `collapse` is the grouping an enclosing `sum` applies to the lines' labels.
 */
export function neededLabels (q: RangeAggregation, collapse: Grouping | null): Set<string> | null {
  const grouping = collapse ?? q.grouping
  if (grouping === null || grouping.mode !== 'by') return null
  const out = new Set(grouping.labels)
  if (q.unwrap) {
    out.add(q.unwrap.label)
    for (const p of q.unwrap.post) predicateNames(p, out)
  }
  let parsed = false
  for (const stage of q.log.pipeline) {
    if (stage.kind === 'json' || stage.kind === 'logfmt' || stage.kind === 'regexp' || stage.kind === 'pattern') {
      parsed = true
    } else if (stage.kind === 'filter') {
      predicateNames(stage.predicate, out)
    } else if (parsed && !passive(stage)) {
      return null
    }
  }
  // A parser names a field that a stream label already has `<name>_extracted`.
  for (const name of [...out]) if (name.endsWith('_extracted')) out.add(name.slice(0, -'_extracted'.length))
  return out
}

/** Stages that read labels only through the names they give, and leave the labels as they are. */
function passive (stage: Stage): boolean {
  return stage.kind === 'line' || stage.kind === 'filter' || stage.kind === 'decolorize'
}
