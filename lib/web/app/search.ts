// Feature 2: search with text, regex and case options, a time range and a source glob; hits with their time and
// source, the match in <mark>, and "load more". The form is the URL's query (`/?q=…&source=…&since=…`), so a
// search is a link.
import { h } from 'preact'
import htm from 'htm'
import type { GrepResult, Line } from './api'
import { size } from './format'
import { LEVELS, LineRow, levelOf, type Level } from './line'

const html = htm.bind(h)

export interface SearchQuery {
  q: string
  regex: boolean
  i: boolean
  source: string
  since: string
  until: string
  limit: number
}

export const PAGE = 100
/** The most hits one search answers (the API's limit). */
export const MAX_LIMIT = 10_000

export function queryFromUrl (params: URLSearchParams): SearchQuery {
  return {
    q: params.get('q') ?? '',
    regex: params.get('regex') === '1',
    i: params.get('i') === '1',
    source: params.get('source') ?? '',
    since: params.get('since') ?? '',
    until: params.get('until') ?? '',
    limit: Math.min(MAX_LIMIT, Math.max(1, Number(params.get('limit')) || PAGE)),
  }
}

/** The query as API (and page URL) parameters. */
export function queryParams (s: SearchQuery): Record<string, string> {
  return {
    q: s.q, regex: s.regex ? '1' : '', i: s.i ? '1' : '', source: s.source, since: s.since, until: s.until,
  }
}

export function SearchForm ({ query, run }: { query: SearchQuery, run: (q: SearchQuery) => void }) {
  const submit = (e: Event): void => {
    e.preventDefault()
    const f = new FormData(e.target as HTMLFormElement)
    const text = (k: string): string => String(f.get(k) ?? '').trim()
    run({
      q: text('q'), regex: f.get('regex') !== null, i: f.get('i') !== null, source: text('source'),
      since: text('since'), until: text('until'), limit: PAGE,
    })
  }
  return html`<form class="search" onSubmit=${submit}>
    <input name="q" placeholder="text to find" value=${query.q} autofocus />
    <label><input type="checkbox" name="regex" checked=${query.regex} /> regex</label>
    <label><input type="checkbox" name="i" checked=${query.i} /> ignore case</label>
    <input name="source" placeholder="source glob" value=${query.source} />
    <input name="since" placeholder="since (2h, ISO time)" value=${query.since} />
    <input name="until" placeholder="until" value=${query.until} />
    <button type="submit">search</button>
  </form>`
}

export function Hits ({ result, more: loadMore, context, trace, levels, setLevels }: {
  result: GrepResult
  more: () => void
  context: (l: Line) => void
  trace: (id: string) => void
  /** Levels shown; empty: all. */
  levels: Set<Level>
  setLevels: (l: Set<Level>) => void
}) {
  const { hits, truncated, scanLimited, scannedBytes, indexed } = result
  // At the scan limit a larger --limit finds nothing more: only a narrower search reads further.
  const more = truncated && !scanLimited
  const summary = `${hits.length} hit${hits.length === 1 ? '' : 's'}${more ? ' (more exist)' : ''}, ` +
    `${size(scannedBytes)} read${indexed ? '' : ', no index used'}` +
    (scanLimited ? ' — stopped at the scan limit: narrow the sources or the time range to search the rest' : '')
  const counts = new Map<Level, number>()
  for (const hit of hits) {
    const l = levelOf(hit.text)
    if (l) counts.set(l, (counts.get(l) ?? 0) + 1)
  }
  const toggle = (l: Level): void => {
    const next = new Set(levels)
    if (next.has(l)) next.delete(l)
    else next.add(l)
    setLevels(next)
  }
  const shown = levels.size === 0 ? hits : hits.filter(hit => levels.has(levelOf(hit.text) as Level))
  return html`<div>
    <p class="muted summary">${summary}</p>
    <p class="chips">${LEVELS.filter(l => counts.has(l)).map(l => html`<button
      class=${`chip lvl-${l}${levels.has(l) ? ' on' : ''}`} onClick=${() => toggle(l)}>${l} ${counts.get(l)}</button>`)}
    </p>
    <ol class="lines">${shown.map(hit => html`<${LineRow} key=${hit.source + '@' + hit.cursor} line=${hit}
      match=${hit.match} context=${context} trace=${trace} />`)}</ol>
    ${more ? html`<button class="more" onClick=${loadMore}>load more</button>` : null}
  </div>`
}
