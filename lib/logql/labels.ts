// The labels of a source, which stream selectors match: node, tenant, path and source for every source, and
// namespace, pod, container and filename when its path has the Kubernetes layout
// <namespace>/<pod>/<container>/<file> (the tenant is the namespace there: the top directory of the mount).
import type { SourceIndex } from '../store/source'
import { splitSource } from '../util/sources'
import type { Allowed } from '../query/scope'
import type { LabelMatcher } from './ast'
import { toRegExp } from './literals'

export type Labels = Record<string, string>

export function sourceLabels (source: string): Labels {
  const { node, path, tenant } = splitSource(source)
  const labels: Labels = { node, tenant, path, source }
  const parts = path.split('/')
  if (parts.length === 4) {
    labels.namespace = parts[0]
    labels.pod = parts[1]
    labels.container = parts[2]
    labels.filename = parts[3]
  }
  return labels
}

/** A matcher as a test of one label's value (absent labels are the empty string, as in Prometheus). */
export function matcherTest (m: LabelMatcher): (value: string) => boolean {
  if (m.op === '=') return v => v === m.value
  if (m.op === '!=') return v => v !== m.value
  const re = toRegExp(`^(?:${m.value})$`)
  return m.op === '=~' ? v => re.test(v) : v => !re.test(v)
}

export function matchesAll (matchers: LabelMatcher[]): (labels: Labels) => boolean {
  const tests = matchers.map(m => ({ name: m.name, test: matcherTest(m) }))
  return labels => tests.every(t => t.test(labels[t.name] ?? ''))
}

/** The sources the caller may see whose labels match every matcher, by name. */
export function selectStreams (sources: Iterable<SourceIndex>, allowed: Allowed, selector: LabelMatcher[]):
  Array<{ s: SourceIndex, labels: Labels }> {
  const match = matchesAll(selector)
  const out: Array<{ s: SourceIndex, labels: Labels }> = []
  for (const s of sources) {
    if (!allowed(s.tenant)) continue
    const labels = sourceLabels(s.source)
    if (match(labels)) out.push({ s, labels })
  }
  return out.sort((a, b) => a.s.source.localeCompare(b.s.source))
}

/** A label set's key, the same for equal sets whatever the order they were built in. */
export function labelKey (labels: Labels): string {
  return JSON.stringify(Object.keys(labels).sort().map(k => [k, labels[k]]))
}
