// Feature 2: search with text, regex and case options, a time range and a source glob; hits with their time and
// source, the match in <mark>, and "load more". The form is the URL's query (`/?q=…&source=…&since=…`), so a
// search is a link.
import { h } from 'preact'
import htm from 'htm'
import type { GrepResult, Hit } from './api'
import { marked, size, time } from './format'

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

export function queryFromUrl (params: URLSearchParams): SearchQuery {
  return {
    q: params.get('q') ?? '',
    regex: params.get('regex') === '1',
    i: params.get('i') === '1',
    source: params.get('source') ?? '',
    since: params.get('since') ?? '',
    until: params.get('until') ?? '',
    limit: PAGE,
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

export function Hits ({ result, more, context }: {
  result: GrepResult, more: () => void, context: (h: Hit) => void
}) {
  const { hits, truncated, scannedBytes, indexed } = result
  const summary = `${hits.length} hit${hits.length === 1 ? '' : 's'}${truncated ? ' (more exist)' : ''}, ` +
    `${size(scannedBytes)} read${indexed ? '' : ', no index used'}`
  return html`<div>
    <p class="muted summary">${summary}</p>
    <ol class="lines">${hits.map(hit => html`<li class="line" key=${hit.source + '@' + hit.cursor}>
      <span class="ts">${time(hit.ts)}</span>
      <a class="src" href="#" title="lines around this one"
        onClick=${(e: Event) => { e.preventDefault(); context(hit) }}>${hit.source}@${hit.cursor}</a>
      <span class="text">${marked(hit.text, hit.match)}</span>
    </li>`)}</ol>
    ${truncated ? html`<button class="more" onClick=${more}>load more</button>` : null}
  </div>`
}
