// Loki's /loki/api/v1/patterns, approximated without a pattern ingester: the lines the query keeps over [start,
// end] are read (within the tenant's scan limit, at most MAX_LINES_READ of them), each becomes a pattern by
// replacing every word that holds a digit with `<_>`, and each pattern counts its lines per step. A pattern is
// a LogQL `pattern` expression, so Grafana can filter by it.
import { selectStreams } from '../logql/labels'
import { compilePipeline } from '../logql/pipeline'
import { scanStreams } from '../logql/scan'
import { HOUR, logQueryOnly, lokiRange, lokiStep, type LokiRequest } from './loki-http'

/** Lines read at most: a pattern needs a sample of the lines, not every one. */
const MAX_LINES_READ = 100_000

/** Patterns kept at most, the most frequent first. */
const MAX_PATTERNS = 1000

/** A word: what `<_>` replaces when it holds a digit (a number, a time, an id, a duration). */
const WORD = /[A-Za-z0-9_.:\-]+/g

export function patternOf (line: string): string {
  return line.replace(WORD, w => /\d/.test(w) ? '<_>' : w).replace(/(<_>)+/g, '<_>')
}

export async function patterns (r: LokiRequest): Promise<object> {
  const query = logQueryOnly(r.q, 'patterns')
  const { start, end } = lokiRange(r.q, HOUR)
  const step = lokiStep(r.q, start, end)
  const pipeline = compilePipeline(query.pipeline)
  const counts = new Map<string, { total: number, samples: Map<number, number> }>()
  let read = 0
  await r.gated(query.selector, async scan => {
    const streams = selectStreams(r.store.allSources(), r.allowed, query.selector)
    await scanStreams(r.store, streams, query, start, end, scan, (stream, line) => {
      if (read >= MAX_LINES_READ) return false
      read++
      const e = pipeline({ line: line.text, labels: stream.labels })
      if (e === null) return true
      const pattern = patternOf(e.line)
      let c = counts.get(pattern)
      if (!c) counts.set(pattern, c = { total: 0, samples: new Map() })
      c.total++
      const t = start + Math.floor((line.ts - start) / step) * step
      c.samples.set(t, (c.samples.get(t) ?? 0) + 1)
      return true
    })
  })
  const data = [...counts].sort((a, b) => b[1].total - a[1].total).slice(0, MAX_PATTERNS).map(([pattern, c]) => ({
    pattern,
    samples: [...c.samples].sort((a, b) => a[0] - b[0]).map(([t, n]) => [Math.floor(t / 1000), n]),
  }))
  return { status: 'success', data }
}
