// A real server with a tenant's JSON lines and another's plain lines, and a client of its Loki API, for the
// tests of that API (test/loki-*.test.ts).
import type { Test } from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { encodeFrame } from '../../lib/wire/frames'
import { batch, connect, exchange } from './ingest'
import { TOKEN, startServer, tempDir, type Server } from './cluster'

export const SCOPED = 'only-prod-token'
export const T0 = Math.floor(Date.now() / 60_000) * 60_000 - 10 * 60_000
export const API_SOURCE = 'prod/api-1/app/app.log'

export type Body = any // eslint-disable-line @typescript-eslint/no-explicit-any

export const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` })
export const basic = (token: string): Record<string, string> =>
  ({ authorization: 'Basic ' + Buffer.from(`grafana:${token}`).toString('base64') })

/** The ways a caller sees only the prod tenant. */
export const PROD_VIEWS: Array<[string, Record<string, string>]> = [
  ['a scoped token', bearer(SCOPED)],
  ['a scoped token as Basic', basic(SCOPED)],
  ['X-Scope-OrgID on a * token', { ...bearer(TOKEN), 'x-scope-orgid': 'prod' }],
]

export async function loki (server: Server, route: string, params: Record<string, string | string[]> = {},
  headers: Record<string, string> = bearer(TOKEN)): Promise<{ status: number, body: Body }> {
  const q = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) for (const x of [v].flat()) q.append(k, x)
  const res = await fetch(`${server.http}/loki/api/v1/${route}?${q}`, { headers })
  const text = await res.text()
  const json = (res.headers.get('content-type') ?? '').includes('json')
  return { status: res.status, body: json ? JSON.parse(text) : text }
}

/** Records of `n` lines of source `p`, one every `every` ms from `from`, the first at byte `offset`. */
export function records (p: string, n: number, every: number, line: (i: number) => string, from = T0,
  offset = 0): unknown[] {
  return Array.from({ length: n }, (_, i) => {
    const data = Buffer.from(line(i) + '\n')
    offset += data.length
    return [p, offset - data.length, from + i * every, data]
  })
}

/** Stores one batch of `tenant` (generation `gen` of node n1) and waits for its ack. */
export async function push (t: Test, server: Server, seq: number, tenant: string, recs: unknown[], gen = 1):
  Promise<void> {
  const ws = await connect(server.ws, TOKEN)
  t.match((await exchange(ws, encodeFrame(batch(seq, tenant, recs, { gen }), false))).frame, { t: 'ack' })
  ws.close()
}

/**
 * A server whose tokens are TOKEN (every tenant) and SCOPED (prod), holding 60 JSON lines of prod's api-1 pod,
 * one every 10 s from T0 (every tenth an error), and 10 logfmt lines of staging, one a minute.
 */
export async function setup (t: Test): Promise<Server> {
  const tokens = path.join(tempDir(t, 'tok'), 'tokens.json')
  fs.writeFileSync(tokens, JSON.stringify({ [TOKEN]: '*', [SCOPED]: ['prod'] }))
  const server = await startServer(t, { args: ['--tokens', tokens] })
  const level = (i: number): string => i % 10 === 0 ? 'error' : 'info'
  await push(t, server, 1, 'prod',
    records(API_SOURCE, 60, 10_000, i => JSON.stringify({ level: level(i), msg: `req-${i}` })))
  await push(t, server, 2, 'staging', records('staging/worker.log', 10, 60_000, i => `job=worker took=${i}ms n=${i}`))
  return server
}
