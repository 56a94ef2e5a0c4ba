// Loki's index routes, answered from the store's per-source index without reading lines, except a small sample:
// index/stats (streams, chunks, entries and bytes a selector resolves to) and index/volume and volume_range
// (bytes per label set, as a Prometheus-style vector or matrix). A Loki chunk is a logfs entry here: one
// source's run of one batch, with its time.
import { holdAll, type SourceIndex } from '../store/source'
import { QueryError } from '../query/errors'
import { NL } from '../util/bytes'
import { selectStreams, type Labels, labelKey } from '../logql/labels'
import { makeSteps } from '../logql/series'
import { HOUR, lokiCount, lokiRange, lokiStep, queryParam, selectorOnly, type LokiRequest } from './loki-http'

/** The bytes of a stream read to learn its mean line length, for `entries`. */
const SAMPLE_BYTES = 16 * 1024

/** The most series a volume answer may be asked for. */
const MAX_VOLUME_SERIES = 10_000

interface Entry { ts: number, pos: number, length: number }

/** A stream's entries whose time is in [start, end], with their logical positions. */
function entriesIn (s: SourceIndex, start: number, end: number): Entry[] {
  const out: Entry[] = []
  let pos = 0
  for (const e of s.extents) {
    if (e.timestamp >= start && e.timestamp <= end) out.push({ ts: e.timestamp, pos, length: e.length })
    pos += e.length
  }
  return out
}

/** Lines in `bytes` of `s`, estimated from the newlines of up to SAMPLE_BYTES from `pos`. */
function estimateLines (s: SourceIndex, pos: number, bytes: number): number {
  const sample = s.read(pos, Math.min(s.end, pos + Math.min(bytes, SAMPLE_BYTES)))
  if (sample.length === 0) return 0
  let newlines = 0
  for (let at = sample.indexOf(NL); at >= 0; at = sample.indexOf(NL, at + 1)) newlines++
  return Math.max(1, Math.round(bytes * Math.max(1, newlines) / sample.length))
}

/** `{"streams", "chunks", "entries", "bytes"}` of the streams the query selects, over [start, end]. */
export function indexStats (r: LokiRequest): object {
  const selector = selectorOnly(queryParam(r.q))
  const { start, end } = lokiRange(r.q, HOUR)
  const out = { streams: 0, chunks: 0, entries: 0, bytes: 0 }
  const streams = selectStreams(r.store.allSources(), r.allowed, selector)
  holdAll(streams.map(st => st.s))
  for (const { s } of streams) {
    const entries = entriesIn(s, start, end)
    if (entries.length === 0) continue
    const bytes = entries.reduce((n, e) => n + e.length, 0)
    out.streams++
    out.chunks += entries.length
    out.bytes += bytes
    out.entries += estimateLines(s, entries[0].pos, bytes)
  }
  return out
}

/**
 * The label set a stream's bytes count under: its values of the target labels (`targetLabels`, or the labels
 * the selector names) for aggregateBy=series; each target label it has, valued "", for aggregateBy=labels.
 */
function groupsOf (labels: Labels, targets: string[] | null, byLabels: boolean): Labels[] {
  const names = targets ?? Object.keys(labels)
  const present = names.filter(n => labels[n] !== undefined)
  if (byLabels) return present.map(n => ({ [n]: '' }))
  return present.length === 0 ? [] : [Object.fromEntries(present.map(n => [n, labels[n]]))]
}

/**
 * Bytes per label set of the streams the query selects over [start, end]: the `limit` largest, as Loki's
 * index/volume (a vector at `end`) or index/volume_range (a matrix, each point the bytes of the step it ends).
 */
export function indexVolume (r: LokiRequest, range: boolean): object {
  const selector = selectorOnly(queryParam(r.q))
  const { start, end } = lokiRange(r.q, HOUR)
  const limit = lokiCount(r.q, 'limit', 100, MAX_VOLUME_SERIES)
  const aggregateBy = r.q.get('aggregateBy') ?? 'series'
  if (aggregateBy !== 'series' && aggregateBy !== 'labels') {
    throw new QueryError('bad-input', `aggregateBy must be series or labels, not '${aggregateBy}'`)
  }
  const targetText = r.q.get('targetLabels')
  const targets = targetText ? targetText.split(',').map(t => t.trim()).filter(t => t !== '')
    : aggregateBy === 'series' ? [...new Set(selector.map(m => m.name))] : null
  const steps = range ? makeSteps(start, end, lokiStep(r.q, start, end)) : makeSteps(end, end, 1)
  const groups = new Map<string, { labels: Labels, total: number, points: Map<number, number> }>()
  const streams = selectStreams(r.store.allSources(), r.allowed, selector)
  holdAll(streams.map(st => st.s))
  for (const { s, labels } of streams) {
    const entries = entriesIn(s, start, end)
    if (entries.length === 0) continue
    for (const group of groupsOf(labels, targets, aggregateBy === 'labels')) {
      const key = labelKey(group)
      let g = groups.get(key)
      if (!g) groups.set(key, g = { labels: group, total: 0, points: new Map() })
      for (const e of entries) {
        // A point holds the bytes of (t - step, t]; an instant volume has one point, at the end.
        const i = range ? Math.min(steps.count - 1, Math.max(0, Math.ceil((e.ts - start) / steps.step))) : 0
        g.total += e.length
        g.points.set(i, (g.points.get(i) ?? 0) + e.length)
      }
    }
  }
  const top = [...groups.values()].sort((a, b) => b.total - a.total).slice(0, limit)
  const seconds = (i: number): number => (steps.start + i * steps.step) / 1000
  const result = range
    ? top.map(g => ({
      metric: g.labels,
      values: [...g.points].sort((a, b) => a[0] - b[0]).map(([i, v]) => [seconds(i), String(v)]),
    }))
    : top.map(g => ({ metric: g.labels, value: [end / 1000, String(g.total)] }))
  return { status: 'success', data: { resultType: range ? 'matrix' : 'vector', result } }
}
