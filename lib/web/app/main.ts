// The logfs console: sources, search, LogQL with charts, the lines around any hit, live tail, traces and tenants.
// A view is a link: its state is the URL's query (`?q=…`, `?logql=…`, `?ctx=SOURCE@CURSOR`, `?tail=SOURCE_OR_GLOB`,
// `?trace=ID`, `?tenants`);
// the token is in sessionStorage (token.ts), never in a URL the server sees.
import { h, render } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import htm from 'htm'
import {
  Unauthorized, get, type Context, type GrepResult, type Histogram, type Line, type SourceInfo, type TenantRow,
  type Trace,
} from './api'
import { forgetToken, saveToken, takeToken } from './token'
import { Sources } from './sources'
import { Tenants } from './tenants'
import { Hits, PAGE, SearchForm, queryFromUrl, queryParams, type SearchQuery } from './search'
import { ContextView, STEP, parseAt, type ContextAt } from './context'
import { TailView } from './tail'
import { TraceView } from './trace'
import { HistogramBars } from './histogram'
import { LogQLForm, LogQLView, logqlFromUrl, logqlParams, type LogQLQuery } from './logql'
import { Toolbar, downloadShown, useSettings, type Settings } from './settings'
import type { Level } from './line'

const html = htm.bind(h)

type View =
  | { kind: 'sources' }
  | { kind: 'search', query: SearchQuery }
  | { kind: 'logql', query: LogQLQuery }
  | { kind: 'context', at: ContextAt }
  | { kind: 'tail', name: string }
  | { kind: 'trace', id: string }
  | { kind: 'tenants' }

const NO_QUERY = logqlFromUrl(new URLSearchParams())

function viewFromUrl (): View {
  const params = new URLSearchParams(location.search)
  const at = parseAt(params.get('ctx') ?? '')
  if (at) return { kind: 'context', at: { ...at, before: STEP, after: STEP } }
  if (params.get('tail')) return { kind: 'tail', name: params.get('tail')! }
  if (params.get('trace')) return { kind: 'trace', id: params.get('trace')! }
  if (params.has('q')) return { kind: 'search', query: queryFromUrl(params) }
  if (params.has('logql')) return { kind: 'logql', query: logqlFromUrl(params) }
  if (params.has('tenants')) return { kind: 'tenants' }
  return { kind: 'sources' }
}

function urlOf (view: View): string {
  const q = new URLSearchParams()
  if (view.kind === 'context') q.set('ctx', `${view.at.source}@${view.at.cursor}`)
  if (view.kind === 'tail') q.set('tail', view.name)
  if (view.kind === 'trace') q.set('trace', view.id)
  if (view.kind === 'tenants') q.set('tenants', '')
  if (view.kind === 'search') {
    for (const [k, v] of Object.entries(queryParams(view.query))) if (v !== '') q.set(k, v)
    if (!q.has('q')) q.set('q', '')
    if (view.query.limit !== PAGE) q.set('limit', String(view.query.limit))
  }
  if (view.kind === 'logql') {
    q.set('logql', view.query.q)
    for (const [k, v] of Object.entries(logqlParams(view.query))) if (v !== '') q.set(k, v)
  }
  return q.size > 0 ? `/?${q}` : '/'
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
  const [tenants, setTenants] = useState<TenantRow[] | null>(null)
  const [result, setResult] = useState<GrepResult | null>(null)
  const [hist, setHist] = useState<Histogram | null>(null)
  const [ctx, setCtx] = useState<Context | null>(null)
  const [trace, setTrace] = useState<Trace | null>(null)
  const [levels, setLevels] = useState<Set<Level>>(new Set())
  const [paused, setPaused] = useState(false)
  const [error, setError] = useState<string | null>(null)
  const [settings, setSettings] = useSettings()

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
    } else if (view.kind === 'tenants') {
      setTenants(null)
      get<{ tenants: TenantRow[] }>(token, '/v1/tenants').then(b => setTenants(b.tenants), fail)
    } else if (view.kind === 'search') {
      setLevels(new Set())
      if (view.query.q === '') { setResult(null); return }
      const params = queryParams(view.query)
      get<GrepResult>(token, '/v1/grep', { ...params, limit: String(view.query.limit) }).then(setResult, fail)
      const { source, since, until } = params
      get<Histogram>(token, '/v1/histogram', { source, since, until }).then(setHist, fail)
    } else if (view.kind === 'context') {
      const { source, cursor, before, after } = view.at
      get<Context>(token, '/v1/context', { source, cursor, before: String(before), after: String(after) })
        .then(setCtx, fail)
    } else if (view.kind === 'trace') {
      setTrace(null)
      get<Trace>(token, '/v1/trace', { id: view.id }).then(setTrace, fail)
    }
  }, [token, view])

  useEffect(() => {
    const key = (e: KeyboardEvent): void => {
      // In a text field the keys are text.
      if ((e.target as HTMLElement).matches('textarea, input:not([type=checkbox])')) return
      if (e.key === '/') { e.preventDefault(); document.querySelector<HTMLInputElement>('input[name=q]')?.focus() }
      if (e.key === ' ' && view.kind === 'tail') { e.preventDefault(); setPaused(p => !p) }
      const toggle: Record<string, keyof Settings> = { w: 'wrap', t: 'timestamps', d: 'dark' }
      if (toggle[e.key]) setSettings({ ...settings, [toggle[e.key]]: !settings[toggle[e.key]] })
    }
    addEventListener('keydown', key)
    return () => removeEventListener('keydown', key)
  }, [view, settings])

  if (token === null) {
    return html`<main><h1>logfs</h1><${TokenForm} refused=${refused}
      done=${(t: string) => { saveToken(t); setRefused(null); setToken(t) }} /></main>`
  }
  const query = view.kind === 'search' ? view.query : queryFromUrl(new URLSearchParams())
  const at = (source: string, cursor: string): void =>
    go({ kind: 'context', at: { source, cursor, before: STEP, after: STEP } })
  const openContext = (l: Line): void => at(l.source, l.cursor)
  const openTrace = (id: string): void => go({ kind: 'trace', id })
  const pick = (name: string): void => go({ kind: 'search', query: { ...query, source: name } })
  const tail = (name: string): void => { setPaused(false); go({ kind: 'tail', name }) }
  const more = (side: 'before' | 'after'): void => {
    if (view.kind === 'context') setView({ kind: 'context', at: { ...view.at, [side]: view.at[side] + STEP } })
  }
  const moreHits = (): void => {
    if (view.kind === 'search') go({ kind: 'search', query: { ...view.query, limit: view.query.limit + PAGE } })
  }
  const zoom = (from: number, to: number): void => go({
    kind: 'search', query: { ...query, since: new Date(from).toISOString(), until: new Date(to).toISOString() },
  })
  return html`<main class=${[settings.wrap ? '' : 'nowrap', settings.timestamps ? '' : 'no-ts'].join(' ')}>
    <header>
      <h1><a href="/" onClick=${(e: Event) => { e.preventDefault(); go({ kind: 'sources' }) }}>logfs</a></h1>
      <${SearchForm} query=${query} run=${(q: SearchQuery) => go({ kind: 'search', query: q })} />
      <${Toolbar} settings=${settings} set=${setSettings} download=${downloadShown} tail=${tail} />
      <a class="logql-link" href="/?logql="
        onClick=${(e: Event) => { e.preventDefault(); go({ kind: 'logql', query: { ...NO_QUERY } }) }}>query</a>
      <a class="tenants-link" href="/?tenants"
        onClick=${(e: Event) => { e.preventDefault(); go({ kind: 'tenants' }) }}>tenants</a>
    </header>
    ${error ? html`<p class="error" role="alert">${error}</p>` : null}
    ${view.kind === 'sources' ? html`<${Sources} sources=${sources} pick=${pick} tail=${tail} />` : null}
    ${view.kind === 'search' && result
      ? html`<${HistogramBars} data=${hist} zoom=${zoom} />
        <${Hits} result=${result} context=${openContext} trace=${openTrace} more=${moreHits}
          levels=${levels} setLevels=${setLevels} />`
      : null}
    ${view.kind === 'context'
      ? html`<${ContextView} at=${view.at} ctx=${ctx} more=${more} trace=${openTrace} />`
      : null}
    ${view.kind === 'tail'
      ? html`<${TailView} token=${token} name=${view.name} paused=${paused} setPaused=${setPaused} fail=${fail}
          context=${openContext} trace=${openTrace} />`
      : null}
    ${view.kind === 'logql'
      ? html`<${LogQLForm} query=${view.query} run=${(q: LogQLQuery) => go({ kind: 'logql', query: q })} />
        <${LogQLView} token=${token} query=${view.query} fail=${fail} trace=${openTrace} />`
      : null}
    ${view.kind === 'trace' ? html`<${TraceView} trace=${trace} context=${at} />` : null}
    ${view.kind === 'tenants' ? html`<${Tenants} tenants=${tenants} />` : null}
  </main>`
}

render(html`<${App} />`, document.body)
