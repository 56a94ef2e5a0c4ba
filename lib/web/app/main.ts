// The logfs console: sources, search, and the lines around any hit. State lives in the URL's query (a view is a
// link) and the token in sessionStorage (takeToken).
import { h, render } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import htm from 'htm'
import { Unauthorized, get, type Context, type GrepResult, type Hit, type SourceInfo } from './api'
import { forgetToken, saveToken, takeToken } from './token'
import { Sources } from './sources'
import { Hits, PAGE, SearchForm, queryFromUrl, queryParams, type SearchQuery } from './search'
import { ContextView, STEP, parseAt, type ContextAt } from './context'

const html = htm.bind(h)

type View = { kind: 'sources' } | { kind: 'search', query: SearchQuery } | { kind: 'context', at: ContextAt }

function viewFromUrl (): View {
  const params = new URLSearchParams(location.search)
  const at = parseAt(params.get('ctx') ?? '')
  if (at) return { kind: 'context', at: { ...at, before: STEP, after: STEP } }
  if (params.has('q')) return { kind: 'search', query: queryFromUrl(params) }
  return { kind: 'sources' }
}

function urlOf (view: View): string {
  if (view.kind === 'context') return `/?ctx=${encodeURIComponent(`${view.at.source}@${view.at.cursor}`)}`
  if (view.kind === 'search') {
    const q = new URLSearchParams(Object.entries(queryParams(view.query)).filter(([, v]) => v !== ''))
    if (!q.has('q')) q.set('q', '')
    return `/?${q}`
  }
  return '/'
}

function TokenForm ({ refused, done }: { refused: string | null, done: (t: string) => void }) {
  const submit = (e: Event): void => {
    e.preventDefault()
    const t = String(new FormData(e.target as HTMLFormElement).get('token') ?? '').trim()
    if (t) done(t)
  }
  return html`<form class="token" onSubmit=${submit}>
    ${refused ? html`<p class="error" role="alert">The server refused the token: ${refused}</p>` : null}
    <label>Token <input name="token" type="password" autocomplete="off" autofocus /></label>
    <button type="submit">open</button>
  </form>`
}

function App () {
  const [token, setToken] = useState<string | null>(takeToken())
  const [refused, setRefused] = useState<string | null>(null)
  const [view, setView] = useState<View>(viewFromUrl())
  const [sources, setSources] = useState<SourceInfo[] | null>(null)
  const [result, setResult] = useState<GrepResult | null>(null)
  const [ctx, setCtx] = useState<Context | null>(null)
  const [error, setError] = useState<string | null>(null)

  const go = (next: View): void => {
    history.pushState(null, '', urlOf(next))
    setView(next)
  }
  useEffect(() => {
    const back = (): void => setView(viewFromUrl())
    addEventListener('popstate', back)
    return () => removeEventListener('popstate', back)
  }, [])

  const fail = (err: unknown): void => {
    if (err instanceof Unauthorized) {
      forgetToken()
      setToken(null)
      setRefused(err.message)
    } else {
      setError((err as Error).message)
    }
  }

  useEffect(() => {
    if (token === null) return
    setError(null)
    if (view.kind === 'sources') {
      setSources(null)
      get<{ sources: SourceInfo[] }>(token, '/v1/sources').then(b => setSources(b.sources), fail)
    } else if (view.kind === 'search') {
      if (view.query.q === '') { setResult(null); return }
      get<GrepResult>(token, '/v1/grep', { ...queryParams(view.query), limit: String(view.query.limit) })
        .then(setResult, fail)
    } else {
      const { source, cursor, before, after } = view.at
      get<Context>(token, '/v1/context', { source, cursor, before: String(before), after: String(after) })
        .then(setCtx, fail)
    }
  }, [token, view])

  if (token === null) {
    return html`<main><h1>logfs</h1><${TokenForm} refused=${refused}
      done=${(t: string) => { saveToken(t); setRefused(null); setToken(t) }} /></main>`
  }
  const query = view.kind === 'search' ? view.query : queryFromUrl(new URLSearchParams())
  const openContext = (hit: Hit): void =>
    go({ kind: 'context', at: { source: hit.source, cursor: hit.cursor, before: STEP, after: STEP } })
  const pick = (glob: string): void => go({ kind: 'search', query: { ...query, source: glob } })
  const more = (side: 'before' | 'after'): void => {
    if (view.kind === 'context') setView({ kind: 'context', at: { ...view.at, [side]: view.at[side] + STEP } })
  }
  const moreHits = (): void => {
    if (view.kind === 'search') setView({ kind: 'search', query: { ...view.query, limit: view.query.limit + PAGE } })
  }
  return html`<main>
    <header>
      <h1><a href="/" onClick=${(e: Event) => { e.preventDefault(); go({ kind: 'sources' }) }}>logfs</a></h1>
      <${SearchForm} query=${query} run=${(q: SearchQuery) => go({ kind: 'search', query: q })} />
    </header>
    ${error ? html`<p class="error" role="alert">${error}</p>` : null}
    ${view.kind === 'sources'
      ? html`<${Sources} sources=${sources} pick=${pick} />`
      : null}
    ${view.kind === 'search' && result
      ? html`<${Hits} result=${result} context=${openContext} more=${moreHits} />`
      : null}
    ${view.kind === 'context'
      ? html`<${ContextView} at=${view.at} ctx=${ctx} more=${more} />`
      : null}
  </main>`
}

render(html`<${App} />`, document.body)
