// Loki's tail over a real WebSocket: the opening lines and then each new line the query keeps, in Loki's shape;
// lines of other streams, or that the pipeline drops, are not sent; tenant scoping; a bad query gets 400 and the
// reason instead of the upgrade.
import t from 'tap'
import WebSocket from 'ws'
import { TOKEN, type Server } from './helpers/cluster'
import { API_SOURCE, PROD_VIEWS, bearer, push, records, setup, T0, type Body } from './helpers/loki'

interface Tail {
  /** The next message, parsed; rejects after `ms` without one. */
  next: (ms?: number) => Promise<Body>
  closed: Promise<[number, string]>
  ws: WebSocket
}

function tail (server: Server, params: Record<string, string>, headers: Record<string, string> = bearer(TOKEN)):
  Promise<Tail> {
  const ws = new WebSocket(`${server.ws}/loki/api/v1/tail?${new URLSearchParams(params)}`, { headers })
  const queue: Body[] = []
  const waiting: Array<(m: Body) => void> = []
  ws.on('message', (data: Buffer) => {
    const m = JSON.parse(data.toString())
    const w = waiting.shift()
    if (w) w(m)
    else queue.push(m)
  })
  const closed = new Promise<[number, string]>(resolve =>
    ws.once('close', (code, reason) => resolve([code, reason.toString()])))
  const next = (ms = 5000): Promise<Body> => {
    const m = queue.shift()
    if (m !== undefined) return Promise.resolve(m)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no message in ${ms} ms`)), ms)
      waiting.push(x => { clearTimeout(timer); resolve(x) })
    })
  }
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ next, closed, ws }))
    ws.once('unexpected-response', (_req, res) => {
      let body = ''
      res.on('data', (c: Buffer) => { body += c.toString() })
      res.on('end', () => reject(new Error(`HTTP ${res.statusCode}: ${body}`)))
    })
    ws.once('error', reject)
  })
}

const API_LABELS = {
  node: 'n1', tenant: 'prod', path: API_SOURCE, source: `n1/${API_SOURCE}`,
  namespace: 'prod', pod: 'api-1', container: 'app', filename: 'app.log',
}

t.test('tail: the opening lines, then each new line the query keeps, in Loki\'s shape', async t => {
  const server = await setup(t)
  const query = '{namespace="prod"} |= "error" | json | drop msg'
  const tl = await tail(server, { query, start: String(T0 * 1e6), limit: '2' })
  t.teardown(() => tl.ws.close())
  const opening = await tl.next()
  t.same(Object.keys(opening).sort(), ['dropped_entries', 'streams'])
  t.equal(opening.dropped_entries, null)
  t.equal(opening.streams.length, 1)
  t.same(opening.streams[0].stream, { ...API_LABELS, level: 'error' }, 'labels after the pipeline')
  const lines = (m: Body): string[] => m.streams.flatMap((s: Body) => s.values.map((v: string[]) => v[1]))
  t.same(lines(opening), [40, 50].map(i => JSON.stringify({ level: 'error', msg: `req-${i}` })),
    'the newest `limit` lines since start, oldest first')

  const now = Date.now()
  await push(t, server, 3, 'staging', records('staging/worker.log', 1, 0, () => 'staging error', now), 2)
  await push(t, server, 4, 'prod', records(API_SOURCE, 3, 1, i => ['info new', 'error new', 'info again'][i], now), 2)
  const live = await tl.next()
  const stream = { ...API_LABELS, __error__: 'ParserError' }
  t.same(live.streams, [{ stream, values: [[`${now + 1}000000`, 'error new']] }],
    'only the new line that matches, with its time in ns; the staging line and the info lines are skipped')
  t.equal(live.dropped_entries, null)
  await push(t, server, 5, 'prod', records(API_SOURCE, 1, 0, () => '{"level":"error","msg":"late"}', now + 10,
    Buffer.byteLength('info new\nerror new\ninfo again\n')), 2)
  t.same(lines(await tl.next()), ['{"level":"error","msg":"late"}'], 'the next append comes on its own')
})

t.test('tail: tenant scoping', async t => {
  const server = await setup(t)
  for (const [i, [name, headers]] of PROD_VIEWS.entries()) {
    // Each view appends after the last one's lines: a generation of its own.
    const gen = 3 + i
    const tl = await tail(server, { query: '{tenant=~".+"}', start: String(T0 * 1e6), limit: '1000' }, headers)
    const opening = await tl.next()
    t.same([...new Set(opening.streams.map((s: Body) => s.stream.tenant))], ['prod'], `${name}: the opening lines`)
    const now = Date.now()
    await push(t, server, 10, 'staging', records('staging/worker.log', 1, 0, () => 'staging later', now), gen)
    await push(t, server, 11, 'prod', records(API_SOURCE, 1, 0, () => 'prod later', now), gen)
    const live = await tl.next()
    t.same(live.streams.map((s: Body) => [s.stream.tenant, s.values[0][1]]), [['prod', 'prod later']],
      `${name}: new lines`)
    tl.ws.close()
    await tl.closed
  }
  const none = await tail(server, { query: '{tenant="staging"}', start: String(T0 * 1e6) }, PROD_VIEWS[0][1])
  await push(t, server, 20, 'staging', records('staging/worker.log', 1, 0, () => 'staging unseen', Date.now()), 9)
  await t.rejects(none.next(1500), /no message/, 'a scoped token tails nothing of another tenant')
  none.ws.close()
})

t.test('tail: refusals', async t => {
  const server = await setup(t)
  await t.rejects(tail(server, { query: '{pod="api-1"}' }, {}), /HTTP 401/, 'no token')
  await t.rejects(tail(server, { query: '{pod="api-1"}' }, bearer('wrong-token-000')), /HTTP 401/, 'a wrong token')
  await t.rejects(tail(server, { query: '{pod="api-1"' }), /HTTP 400: parse error at line 1, column \d+/,
    'a bad query gets 400 with the position, and no socket')
  await t.rejects(tail(server, { query: 'count_over_time({pod="api-1"}[1m])' }), /HTTP 400: .*tail takes a log query/)
  await t.rejects(tail(server, { query: '{pod="api-1"}', delay_for: '6' }), /HTTP 400: delay_for must be/)
  const res = await fetch(`${server.http}/loki/api/v1/tail?query=${encodeURIComponent('{pod="api-1"}')}`,
    { headers: bearer(TOKEN) })
  t.equal(res.status, 400, 'a plain GET is told to upgrade')
})
