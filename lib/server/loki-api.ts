// Loki's read API over logfs, so Grafana's Loki data source is a front end with no plugin: query_range, query,
// labels, label values and series here, and the routes Explore and Logs Drilldown call besides in their own
// modules (loki-index, loki-patterns, loki-detected, loki-status; tail, a WebSocket, is loki-tail), their JSON
// shaped as Loki documents it. The caller authenticates with a logfs token, as a Bearer token or as the password
// of HTTP Basic; X-Scope-OrgID (tenants joined by `|`) narrows what the token grants to those tenants
// (loki-http.ts). Queries run in their tenant's slot of the query gate, as logfs's own do.
import type http from 'node:http'
import type { Auth } from './auth'
import type { LogStore } from '../store/log-store'
import type { Allowed } from '../query/scope'
import { QueryError } from '../query/errors'
import { MAX_LINES } from '../query/lines'
import { parseLogQL } from '../logql/parse'
import { evaluate, selectorsOf, type Result } from '../logql/evaluate'
import { matchesAll, selectStreams, sourceLabels } from '../logql/labels'
import { stepTime } from '../logql/series'
import type { LabelMatcher } from '../logql/ast'
import type { TenantLimits } from './limits'
import {
  HOUR, LOKI_PREFIX, RequestError, lokiCount, lokiDuration, lokiStep, lokiTime, queryParam, requestAllowed,
  requestParams, selectorOnly, send, type LokiRequest,
} from './loki-http'
import { indexStats, indexVolume } from './loki-index'
import { patterns } from './loki-patterns'
import { detectedFields, detectedLabels } from './loki-detected'
import { BUILD_INFO, drilldownLimits } from './loki-status'

/** Runs a query in the slot of the tenants whose sources `pick` takes (HttpApi.gated). */
export type Gated = <T>(allowed: Allowed, pick: (source: string) => boolean, res: http.ServerResponse,
  fn: (l: TenantLimits) => Promise<T>) => Promise<T>

/** A value as Loki writes one: a string, with Prometheus's spellings of the infinities and NaN. */
function sample (v: number): string {
  if (Number.isNaN(v)) return 'NaN'
  if (!Number.isFinite(v)) return v > 0 ? '+Inf' : '-Inf'
  return String(v)
}

/** A query's `data`, in the shape Loki documents for its result type. */
export function lokiData (r: Result): object {
  const stats = { summary: { scanLimited: r.scanLimited } }
  if (r.kind === 'streams') return { resultType: 'streams', result: r.streams, stats }
  const seconds = (i: number): number => stepTime(r.steps, i) / 1000
  if (r.kind === 'scalar') {
    return { resultType: 'scalar', result: [seconds(r.steps.count - 1), sample(r.values[0])], stats }
  }
  if (r.kind === 'vector') {
    const result = r.series.map(s => ({ metric: s.labels, value: [seconds(0), sample(s.values[0])] }))
    return { resultType: 'vector', result, stats }
  }
  const result = r.series.map(s => ({
    metric: s.labels,
    values: [...s.values.entries()].filter(([, v]) => !Number.isNaN(v)).map(([i, v]) => [seconds(i), sample(v)]),
  }))
  return { resultType: 'matrix', result, stats }
}

export class LokiApi {
  constructor (private readonly store: LogStore, private readonly auth: Auth, private readonly gated: Gated) {}

  /** Answers one request under LOKI_PREFIX; never rejects. Errors are plain text, as Loki sends them. */
  async handle (req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    const fail = (status: number, message: string): void => {
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' })
      res.end(message + '\n')
    }
    const allowed = requestAllowed(this.auth, req)
    if (allowed === null) return fail(401, 'missing or wrong token')
    let q: URLSearchParams
    try {
      q = await requestParams(req, url)
    } catch (err) {
      if (err instanceof RequestError) return fail(err.status, err.message)
      throw err
    }
    const route = url.pathname.slice(LOKI_PREFIX.length)
    const r: LokiRequest = {
      store: this.store,
      allowed,
      q,
      gated: (selector, fn) => {
        const match = matchesAll(selector)
        return this.gated(allowed, source => match(sourceLabels(source)), res,
          l => this.store.query(() => fn(l.scan)))
      },
    }
    try {
      if (route === 'query_range' || route === 'query') return await this.query(route === 'query', allowed, q, res)
      if (route === 'labels') return this.labels(allowed, q, null, res)
      const values = /^label\/([^/]+)\/values$/.exec(route)
      if (values) return this.labels(allowed, q, decodeURIComponent(values[1]), res)
      if (route === 'series') return await this.series(allowed, q, res)
      if (route === 'index/stats') return send(res, 200, await this.store.query(() => indexStats(r)))
      if (route === 'index/volume' || route === 'index/volume_range') {
        return send(res, 200, await this.store.query(() => indexVolume(r, route === 'index/volume_range')))
      }
      if (route === 'patterns') return send(res, 200, await patterns(r))
      if (route === 'detected_labels') return send(res, 200, await this.store.query(() => detectedLabels(r)))
      if (route === 'detected_fields') return send(res, 200, await detectedFields(r, null))
      const field = /^detected_field\/([^/]+)\/values$/.exec(route)
      if (field) return send(res, 200, await detectedFields(r, decodeURIComponent(field[1])))
      if (route === 'status/buildinfo') return send(res, 200, BUILD_INFO)
      if (route === 'drilldown-limits') return send(res, 200, drilldownLimits(MAX_LINES))
      if (route === 'tail') return fail(400, 'tail is served over WebSocket: connect with an Upgrade request')
      return fail(404, `no such endpoint ${url.pathname}`)
    } catch (err) {
      if (err instanceof QueryError) return fail(err.kind === 'bad-input' ? 400 : 404, err.message)
      throw err
    }
  }

  private async query (instant: boolean, allowed: Allowed, q: URLSearchParams, res: http.ServerResponse):
    Promise<void> {
    const query = parseLogQL(queryParam(q))
    const now = Date.now()
    const end = lokiTime(q, instant ? 'time' : 'end', now)
    const since = lokiDuration(q, 'since')
    const start = instant ? end : lokiTime(q, 'start', end - (since ?? HOUR))
    if (start > end) throw new QueryError('bad-input', 'the start is after the end')
    const step = lokiStep(q, start, end)
    const limit = lokiCount(q, 'limit', 100, MAX_LINES)
    const direction = q.get('direction') ?? 'backward'
    if (direction !== 'forward' && direction !== 'backward') {
      throw new QueryError('bad-input', 'direction must be forward or backward')
    }
    const selectors = selectorsOf(query).map(matchesAll)
    const pick = (source: string): boolean => selectors.some(m => m(sourceLabels(source)))
    const result = await this.gated(allowed, pick, res, l => this.store.query(() =>
      evaluate(this.store, allowed, query, { start, end, step, instant, limit, direction, scan: l.scan })))
    send(res, 200, { status: 'success', data: lokiData(result) })
  }

  /** Label names, or one label's values, of the sources the caller may see (matched by `query`, if given). */
  private labels (allowed: Allowed, q: URLSearchParams, name: string | null, res: http.ServerResponse): void {
    const query = q.get('query')
    const selector: LabelMatcher[] = query ? selectorOnly(query) : []
    const found = new Set<string>()
    for (const { labels } of selectStreams(this.store.allSources(), allowed, selector)) {
      if (name === null) for (const k of Object.keys(labels)) found.add(k)
      else if (labels[name] !== undefined) found.add(labels[name])
    }
    send(res, 200, { status: 'success', data: [...found].sort() })
  }

  private async series (allowed: Allowed, q: URLSearchParams, res: http.ServerResponse): Promise<void> {
    const matches = q.getAll('match[]')
    if (matches.length === 0) throw new QueryError('bad-input', 'parameter match[] is required')
    const seen = new Set<string>()
    const data: Array<Record<string, string>> = []
    for (const m of matches) {
      const streams = await this.store.query(() => selectStreams(this.store.allSources(), allowed, selectorOnly(m)))
      for (const { s, labels } of streams) {
        if (seen.has(s.source)) continue
        seen.add(s.source)
        data.push(labels)
      }
    }
    send(res, 200, { status: 'success', data })
  }
}
