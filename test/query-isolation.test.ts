// Query isolation against a real server fed through the raw ingest client: a tenant's query slots and queue
// (429 with Retry-After after --query-wait, other tenants and cross-tenant queries unaffected, metrics, a reload
// raising the slots), and the scan limit (truncated, what was found so far, the CLI's note and exit code, a reload
// raising the limit).
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { encodeFrame } from '../lib/wire/frames'
import { batch, connect, exchange } from './helpers/ingest'
import { TOKEN, api, cli, startServer, tempDir, waitFor, type Server } from './helpers/cluster'

/** Stores `texts` as one source of `tenant`, one batch each, and checks each ack. */
async function ingest (server: Server, tenant: string, file: string, texts: string[]): Promise<void> {
  const ws = await connect(server.ws, TOKEN)
  let offset = 0
  for (const [i, text] of texts.entries()) {
    const data = Buffer.from(text)
    const recs = [[`${tenant}/${file}`, offset, Date.now(), data]]
    const { frame } = await exchange(ws, encodeFrame(batch(i + 1, tenant, recs, { node: `n-${tenant}` }), false))
    if (frame?.t !== 'ack') throw new Error(`batch ${i} of ${tenant} not stored: ${JSON.stringify(frame)}`)
    offset += data.length
  }
  ws.close()
}

/** A sample of the server's /metrics, 0 when absent. */
async function metric (server: Server, name: string, tenant: string): Promise<number> {
  const text = await (await fetch(`${server.http}/metrics`)).text()
  const m = new RegExp(`^${name}\\{tenant="${tenant.replace('*', '\\*')}"\\} (\\S+)$`, 'm').exec(text)
  return m ? Number(m[1]) : 0
}

function tokens (t: Parameters<typeof tempDir>[0], grants: Record<string, string[] | '*'>): string {
  const file = path.join(tempDir(t, 'tok'), 'tokens.json')
  fs.writeFileSync(file, JSON.stringify({ [TOKEN]: '*', ...grants }))
  return file
}

t.test('a tenant at its query limit queues, then gets 429; other tenants and cross-tenant queries do not wait',
  async t => {
    const dir = tempDir(t, 'limits')
    const limits = path.join(dir, 'limits.json')
    fs.writeFileSync(limits, JSON.stringify({ tenants: { slow: { queries: 1 } } }))
    const server = await startServer(t, {
      args: ['--limits', limits, '--query-wait', '2s',
        '--tokens', tokens(t, { 'slow-token': ['slow'], 'quick-token': ['quick'] })],
    })
    // A line on which ^(x+)+$ backtracks for ever, in a window large enough to go to a scan worker: a query that
    // holds its slot for as long as the test runs, while the server's event loop stays free.
    const padding = 'hello from slow, padding line\n'.repeat(12_000)
    await ingest(server, 'slow', 'app.log', ['x'.repeat(40) + 'z\n' + padding])
    await ingest(server, 'quick', 'app.log', ['hello from quick\n'])

    const stuck = new AbortController()
    t.teardown(() => stuck.abort())
    const slowQuery = fetch(`${server.http}/v1/grep?regex=1&q=${encodeURIComponent('^(x+)+$')}`,
      { headers: { authorization: 'Bearer slow-token' }, signal: stuck.signal }).catch(() => null)
    await waitFor('the slow query running',
      async () => await metric(server, 'logfs_tenant_queries_running', 'slow') === 1)

    // A caller that gives up while queued leaves the queue: it is neither run nor counted as rejected.
    const givingUp = new AbortController()
    const abandoned = fetch(`${server.http}/v1/grep?q=hello`,
      { headers: { authorization: 'Bearer slow-token' }, signal: givingUp.signal }).catch(() => null)
    await waitFor('the abandoned query queued',
      async () => await metric(server, 'logfs_tenant_queries_queued', 'slow') === 1)
    givingUp.abort()
    await abandoned
    await waitFor('the abandoned query gone from the queue',
      async () => await metric(server, 'logfs_tenant_queries_queued', 'slow') === 0)

    const started = Date.now()
    const waiting = api<{ error: string }>(server, '/v1/grep?q=hello', 'slow-token')
    await waitFor('the second query queued',
      async () => await metric(server, 'logfs_tenant_queries_queued', 'slow') === 1)
    // While it waits, another tenant's query and a query over every tenant answer.
    const quick = await api<{ hits: Array<{ text: string }> }>(server, '/v1/grep?q=hello', 'quick-token')
    t.equal(quick.status, 200, 'another tenant answers while slow is full')
    t.same(quick.body.hits.map(h => h.text), ['hello from quick'])
    const all = await api<{ hits: unknown[] }>(server, '/v1/grep?q=quick&limit=5')
    t.equal(all.status, 200, 'a * token over both tenants is charged to *, not to slow')
    t.equal(await metric(server, 'logfs_tenant_queries_queued', 'slow'), 1, 'still queued meanwhile')
    type Row = { tenant: string, queries: { queued: number, limit: number } }
    const view = await api<{ tenants: Row[] }>(server, '/v1/tenants')
    t.match(view.body.tenants.find(r => r.tenant === 'slow'), { queries: { queued: 1, limit: 1 } },
      'GET /v1/tenants (logfs tenants) shows the queued query')

    const refused = await waiting
    t.equal(refused.status, 429, 'refused after the wait')
    t.equal(refused.headers.get('retry-after'), '2', 'Retry-After in seconds')
    t.match(refused.body.error, /tenant slow has 1 queries running/)
    t.ok(Date.now() - started >= 1900, 'it waited for --query-wait first')
    t.equal(await metric(server, 'logfs_tenant_queries_rejected_total', 'slow'), 1,
      'counted as rejected, the abandoned one not')
    t.equal(await metric(server, 'logfs_tenant_queries_queued', 'slow'), 0, 'the queue is empty again')
    t.equal(await metric(server, 'logfs_tenant_queries_running', 'slow'), 1, 'the slow query still runs')

    const viaCli = await cli(['grep', 'hello', '--server', server.http], { LOGFS_TOKEN: 'slow-token' })
    t.equal(viaCli.code, 2, 'the CLI exits 2 on a refused query')
    t.match(viaCli.stderr, /429: tenant slow has 1 queries running.*retry in 2 s/)

    // A second slot, by a reload of the limits file: the next query runs beside the stuck one.
    fs.writeFileSync(limits, JSON.stringify({ tenants: { slow: { queries: 2 } } }))
    const answered = await waitFor('a query of slow answered after the reload', async () => {
      const r = await api<{ hits: unknown[] }>(server, '/v1/grep?q=hello&limit=3', 'slow-token')
      return r.status === 200 && r
    })
    t.equal(answered.body.hits.length, 3, 'with the reloaded limit it runs at once')
    stuck.abort()
    await slowQuery
  })

t.test('the scan limit: truncated with the hits found so far, the CLI says so, a reload raises it', async t => {
  const dir = tempDir(t, 'limits')
  const limits = path.join(dir, 'limits.json')
  fs.writeFileSync(limits, JSON.stringify({ tenants: { big: { scan: '1MiB' } } }))
  const server = await startServer(t, { args: ['--limits', limits] })
  // 3 MiB of 32-byte lines; every 1000th holds the needle. A bare word proves no token, so a grep is a full scan.
  const texts: string[] = []
  let n = 0
  for (let b = 0; b < 12; b++) {
    const lines: string[] = []
    for (let i = 0; i < 8192; i++, n++) {
      lines.push(`line ${String(n).padStart(7, '0')} ${n % 1000 === 0 ? 'has a needle, yes.' : 'plain filler line.'}\n`)
    }
    texts.push(lines.join(''))
  }
  t.equal(texts[0].length, 8192 * 32)
  await ingest(server, 'big', 'app.log', texts)
  const total = texts.reduce((a, x) => a + x.length, 0)
  const needles = Math.ceil(n / 1000)

  type Result = { hits: Array<{ text: string }>, truncated: boolean, scanLimited: boolean, scannedBytes: number }
  const capped = await api<Result>(server, '/v1/grep?q=needle&limit=1000')
  t.equal(capped.status, 200)
  t.equal(capped.body.truncated, true, 'truncated')
  t.equal(capped.body.scanLimited, true, 'by the scan limit')
  t.ok(capped.body.scannedBytes <= 1024 * 1024, `read at most 1 MiB (${capped.body.scannedBytes})`)
  t.ok(capped.body.scannedBytes > 1024 * 1024 - 64, 'up to the last whole line the limit holds')
  const firstLines = Math.floor(capped.body.scannedBytes / 32)
  t.same(capped.body.hits.map(h => h.text), Array.from({ length: Math.ceil(firstLines / 1000) },
    (_, i) => `line ${String(i * 1000).padStart(7, '0')} has a needle, yes.`), 'the hits found so far, in order')

  const S = ['--server', server.http]
  const json = await cli(['grep', 'needle', '--json', '--limit', '1000', ...S])
  t.equal(json.code, 0, 'hits found: exit 0')
  t.match(JSON.parse(json.stdout), { truncated: true, scanLimited: true })
  t.match(json.stderr, /logfs: searched only part of the range: the server stopped after 1\.0 MiB at the tenant's scan limit/)
  const plain = await cli(['grep', 'needle', '--limit', '1000', ...S])
  t.equal(plain.stdout.split('\n').filter(Boolean).length, capped.body.hits.length)
  t.match(plain.stderr, /scan limit/)
  t.notMatch(plain.stderr, /--limit/, 'not blamed on --limit')
  const none = await cli(['grep', 'nosuchword', ...S])
  t.equal(none.code, 3, 'nothing found within the scan limit: exit 3, not 1')
  t.match(none.stderr, /scan limit/)
  const hitLimit = await api<Result>(server, '/v1/grep?q=needle&limit=1')
  t.match(hitLimit.body, { truncated: true, scanLimited: false }, '--limit reached first is not the scan limit')

  fs.writeFileSync(limits, JSON.stringify({ tenants: { big: { scan: '8MiB' } } }))
  const whole = await waitFor('the reloaded scan limit', async () => {
    const r = await api<Result>(server, '/v1/grep?q=needle&limit=1000')
    return !r.body.truncated && r
  })
  t.equal(whole.body.hits.length, needles, 'every needle once the limit covers the data')
  t.equal(whole.body.scannedBytes, total)
  t.equal((await cli(['grep', 'nosuchword', ...S])).code, 1, 'a complete search finding nothing exits 1')
})
