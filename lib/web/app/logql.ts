// The query box: LogQL over the server's Loki API. A log query shows its lines as search does; a metric query a
// time-series chart, or a bar chart for topk, bottomk and instant queries; a click on a point shows the lines
// behind it. The box is the URL's query (`/?logql=…&since=…&until=…&step=…&instant=1`), so a chart is a link.
import { h } from 'preact'
import { useEffect, useMemo, useState } from 'preact/hooks'
import htm from 'htm'
import type { Line } from './api'
import { LineRow } from './line'
import { time } from './format'
import { BarChart, TimeChart, type Plot } from './chart'
import { QueryFailed, labelText, linesOf, loki, timeOf, type Labels, type LokiData } from './loki'
import { linesBehind, logPartOf } from '../../logql/drilldown'

const html = htm.bind(h)
const HOUR = 3_600_000
/** The most lines a log query, or the lines behind a point, shows. */
const LIMIT = 1000
/** A series of one level has that level's colour, as lines and the histogram show it. */
const LEVEL_COLOURS: Record<string, string> = {
  fatal: '#86181d', error: '#cb2431', warn: '#dbab09', info: '#0366d6', debug: '#6a737d', trace: '#959da5',
}

export interface LogQLQuery { q: string, since: string, until: string, step: string, instant: boolean }

export function logqlFromUrl (params: URLSearchParams): LogQLQuery {
  return {
    q: params.get('logql') ?? '',
    since: params.get('since') ?? '',
    until: params.get('until') ?? '',
    step: params.get('step') ?? '',
    instant: params.get('instant') === '1',
  }
}

/** The box as page URL parameters. */
export function logqlParams (s: LogQLQuery): Record<string, string> {
  return { logql: s.q, since: s.since, until: s.until, step: s.step, instant: s.instant ? '1' : '' }
}

/** topk and bottomk rank series at one time: their answer is a bar per series, from an instant query. */
const ranks = (q: string): boolean => /^\s*(topk|bottomk)\b/.test(q)

export function LogQLForm ({ query, run }: { query: LogQLQuery, run: (q: LogQLQuery) => void }) {
  const submit = (e: Event): void => {
    e.preventDefault()
    const f = new FormData(e.target as HTMLFormElement)
    const text = (k: string): string => String(f.get(k) ?? '').trim()
    run({ q: text('logql'), since: text('since'), until: text('until'), step: text('step'),
      instant: f.get('instant') !== null })
  }
  // Enter runs the query, as in Grafana; Shift+Enter is a new line.
  const enter = (e: KeyboardEvent): void => {
    if (e.key !== 'Enter' || e.shiftKey) return
    e.preventDefault()
    ;(e.target as HTMLTextAreaElement).form?.requestSubmit()
  }
  return html`<form class="logql" onSubmit=${submit}>
    <textarea name="logql" rows="2" spellcheck="false" value=${query.q} onKeyDown=${enter}
      placeholder='sum by (level) (count_over_time({namespace="shop"} | json [1m]))'></textarea>
    <div class="row">
      <input name="since" placeholder="since (1h, ISO time)" value=${query.since} />
      <input name="until" placeholder="until (now)" value=${query.until} />
      <input name="step" placeholder="step (auto)" value=${query.step} />
      <label><input type="checkbox" name="instant" checked=${query.instant} /> instant</label>
      <button type="submit">run</button>
    </div>
  </form>`
}

interface Answer { data: LokiData, start: number, end: number }
interface Behind { title: string, lines: Line[] }

/** A matrix's series on one time axis (s), null where a series has no value. */
function plotOf (data: LokiData): Plot {
  if (data.resultType === 'vector') {
    return { xs: [0], series: data.result.map(s => ({ label: labelText(s.metric), values: [Number(s.value[1])] })) }
  }
  if (data.resultType !== 'matrix') return { xs: [], series: [] }
  const xs = [...new Set(data.result.flatMap(s => s.values.map(([t]) => t)))].sort((a, b) => a - b)
  const at = new Map(xs.map((x, i) => [x, i]))
  return {
    xs,
    series: data.result.map(s => {
      const values = new Array<number | null>(xs.length).fill(null)
      for (const [t, v] of s.values) values[at.get(t)!] = Number(v)
      return { label: labelText(s.metric), values, colour: LEVEL_COLOURS[s.metric.level ?? s.metric.detected_level] }
    }),
  }
}

export function LogQLView ({ token, query, fail, trace }: {
  token: string, query: LogQLQuery, fail: (err: unknown) => void, trace: (id: string) => void
}) {
  const [answer, setAnswer] = useState<Answer | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [behind, setBehind] = useState<Behind | null>(null)
  const failed = (err: unknown): void => { if (err instanceof QueryFailed) setError(err.message); else fail(err) }

  useEffect(() => {
    setAnswer(null)
    setError(null)
    setBehind(null)
    if (query.q === '') return
    // An answer that comes after the query changed is dropped.
    let current = true
    try {
      const now = Date.now()
      const end = timeOf(query.until, now, now)
      const start = timeOf(query.since, now, end - HOUR)
      loki(token, query.instant || ranks(query.q), { query: query.q, start, end, step: query.step, limit: LIMIT })
        .then(data => { if (current) setAnswer({ data, start, end }) }, err => { if (current) failed(err) })
    } catch (err) {
      failed(err)
    }
    return () => { current = false }
  }, [token, query])

  const labelsOf = (series: number): Labels => {
    const d = answer!.data
    return d.resultType === 'matrix' || d.resultType === 'vector' ? d.result[series].metric : {}
  }
  /** Shows the lines behind the point of `series` at `t` (ms). */
  const open = (t: number, series: number): void => {
    const part = logPartOf(query.q)
    if (part === null) return
    const labels = labelsOf(series)
    const b = linesBehind(part, labels, t)
    loki(token, false, { query: b.query, start: b.from + 1, end: b.to + 1, limit: LIMIT })
      .then(d => setBehind({
        title: `${labelText(labels)}, ${time(b.from)} – ${time(b.to)}`,
        lines: d.resultType === 'streams' ? linesOf(d.result) : [],
      }), failed)
  }

  const d = answer?.data
  const plot = useMemo(() => answer ? plotOf(answer.data) : null, [answer])
  const lines = useMemo(() => answer?.data.resultType === 'streams' ? linesOf(answer.data.result) : [], [answer])
  const rows = (shown: Line[]) => html`<p class="muted summary">${shown.length} lines${shown.length === LIMIT
    ? ' (the most one answer shows: narrow the query or the time range)' : ''}</p>
    <ol class="lines">${shown.map((l, i) => html`<${LineRow} key=${i} line=${l} trace=${trace} />`)}</ol>`
  const series = d?.resultType === 'matrix' || d?.resultType === 'vector' ? d.result.length : -1
  return html`<div class="logql-view">
    ${error ? html`<p class="error query-error" role="alert">${error}</p>` : null}
    ${d?.resultType === 'streams' ? rows(lines) : null}
    ${d?.resultType === 'scalar' ? html`<p class="scalar"><b>${d.result[1]}</b></p>` : null}
    ${series === 0 ? html`<p class="muted summary">no series</p>` : null}
    ${d?.resultType === 'matrix' && series > 0
      ? html`<${TimeChart} plot=${plot} pick=${(i: number, s: number) => open(plot!.xs[i] * 1000, s)} />`
      : null}
    ${d?.resultType === 'vector' && series > 0
      ? html`<${BarChart} plot=${plot} pick=${(_: number, s: number) => open(answer!.end, s)} />`
      : null}
    ${behind
      ? html`<div class="behind"><p><b>lines behind</b> ${behind.title}</p>${rows(behind.lines)}</div>`
      : null}
  </div>`
}
