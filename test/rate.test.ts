// The ingest rate of a tenant, enforced by the server: the wire (envelope read before the body, the throttle
// answer for agents that understand it, the nack an older agent already retries on), and a real mount under a
// flooding tenant limited to 1 MiB/s next to a quiet tenant, with a reload that raises the rate mid-flood.
import t from 'tap'
import path from 'node:path'
import fs from 'node:fs'
import {
  TOKEN, api, append, arrived, checkExactlyOnce, cli, readSource, sleep, sources, startAgent, startServer, tempDir,
  waitFor, writer,
} from './helpers/cluster'
import { batch, connect, exchange } from './helpers/ingest'
import { MiB, batchSizes, metric, stored, storedRate, writeLimits } from './helpers/rate'
import { encodeFrame } from '../lib/wire/frames'
import type { TenantRow } from '../lib/server/tenants'
import { expected } from './fixtures/lines'
import { runSteady, steadyLine } from '../bench/steadywriter'

const rec = (tenant: string, bytes: number, offset: number): unknown[] =>
  [`${tenant}/app.log`, offset, Date.now(), Buffer.alloc(bytes, 0x61)]
/** A batch frame with its envelope, as an agent sends it to a server that lists `envelope`. */
const enveloped = (seq: number, tenant: string, bytes: number, offset: number, told = bytes): Buffer =>
  encodeFrame(batch(seq, tenant, [rec(tenant, bytes, offset)]), false, { seq, tenant, bytes: told })

t.test('the wire: a throttle before the body is read, for agents that understand it; a nack for older ones',
  async t => {
    const file = path.join(tempDir(t, 'limits'), 'limits.json')
    writeLimits(file, { shop: { ingest: '1MiB/s', burst: '1MiB' }, old: { ingest: '1MiB/s', burst: '1MiB' } })
    const server = await startServer(t, { args: ['--limits', file] })
    const ws = await connect(server.ws, TOKEN, { 'logfs-features': 'throttle' })
    ws.setMaxListeners(30)

    t.match((await exchange(ws, enveloped(1, 'shop', MiB, 0))).frame, { t: 'ack', seq: 1, stored: MiB },
      'the burst goes through')
    const throttled = (await exchange(ws, enveloped(2, 'shop', MiB / 2, MiB))).frame
    t.match(throttled, { t: 'throttle', seq: 2, tenant: 'shop' }, 'over the rate: throttled')
    const wait = throttled?.retryAfterMs as number
    t.ok(wait > 100 && wait <= 510, `retryAfterMs ${wait}: half a MiB at 1 MiB/s, less the time since`)

    // A body that does not inflate is never looked at while its envelope's tenant is over the rate.
    const garbage = encodeFrame(batch(3, 'shop', [rec('shop', MiB / 2, MiB)]), true,
      { seq: 3, tenant: 'shop', bytes: MiB / 2 })
    garbage.fill(0xff, 4 + garbage.readUInt16BE(2))
    t.match((await exchange(ws, garbage)).frame, { t: 'throttle', seq: 3, tenant: 'shop' },
      'throttled without inflating the body')

    await sleep(wait + 50)
    t.match((await exchange(ws, enveloped(2, 'shop', MiB / 2, MiB))).frame, { t: 'ack', seq: 2, stored: MiB / 2 },
      'sent again after the wait: stored')
    await sleep(100)
    t.match((await exchange(ws, enveloped(4, 'shop', 1000, MiB * 1.5, 10))).frame,
      { t: 'nack', seq: 4, code: 'invalid', message: /envelope says 10 log bytes, the records hold 1000/ },
      'an envelope that does not match its batch is refused')
    t.match((await exchange(ws, enveloped(5, 'free', 4 * MiB, 0))).frame, { t: 'ack', seq: 5 },
      'a tenant without a limit is never throttled')

    // An agent from before `throttle`: no envelope, no feature header; it gets the nack it keeps bytes and retries on.
    const old = await connect(server.ws, TOKEN)
    const plain = (seq: number, bytes: number, offset: number): Buffer =>
      encodeFrame(batch(seq, 'old', [rec('old', bytes, offset)]), false)
    t.match((await exchange(old, plain(1, MiB, 0))).frame, { t: 'ack', seq: 1, stored: MiB })
    const nack = (await exchange(old, plain(2, MiB, MiB))).frame
    t.match(nack, { t: 'nack', seq: 2, code: 'unavailable',
      message: /^tenant old is over its ingest rate \(1\.0 MiB\/s\); retry after \d+ ms$/ })
    await sleep(Number(/after (\d+) ms/.exec(String(nack?.message))?.[1]) + 50)
    t.match((await exchange(old, plain(2, MiB, MiB))).frame, { t: 'ack', seq: 2, stored: MiB },
      'the old agent retried and was stored; its connection never broke')
    t.equal(old.readyState, old.OPEN)

    const m = (name: string, tenant: string): Promise<number> => metric(server.http, name, { tenant })
    t.equal(await m('logfs_tenant_throttled_batches_total', 'shop'), 2)
    t.equal(await m('logfs_tenant_throttled_batches_total', 'old'), 1)
    t.equal(await m('logfs_tenant_throttled_batches_total', 'free'), 0)
    t.equal(await m('logfs_tenant_ingest_bytes_total', 'old'), 2 * MiB)
    t.equal(await m('logfs_tenant_ingest_bytes_total', 'free'), 4 * MiB)
    t.equal(await m('logfs_tenant_ingest_bytes_total', 'shop'), 1.5 * MiB + 10, 'what the envelopes said')
    const rows = (await api<{ tenants: TenantRow[] }>(server, '/v1/tenants')).body.tenants
    const held = rows.find(r => r.tenant === 'shop')?.throttledSeconds ?? 0
    t.ok(held >= wait / 1000 - 0.1 && held < 3, `GET /v1/tenants: shop throttled for ${held} s`)
    t.equal(rows.find(r => r.tenant === 'free')?.throttledSeconds, 0)
    ws.close()
    old.close()
  })

t.test('--gateways is for gateways of a cluster', async t => {
  const r = await cli(['server', '--gateways', '2', '--listen', '127.0.0.1:0', '--data-dir', tempDir(t, 'd')])
  t.equal(r.code, 2)
  t.match(r.stderr, /--gateways: only gateways of a JetStream cluster/)
  const bad = await cli(['server', '--gateways', '0', '--listen', '127.0.0.1:0', '--data-dir', tempDir(t, 'd')])
  t.equal(bad.code, 2)
  t.match(bad.stderr, /--gateways: '0' must be a whole number from 1/)
})

t.test('a mount: a flooding tenant limited to 1 MiB/s is stored at that rate while a quiet tenant ships on; ' +
  'a reload raises the rate mid-flood; nothing lost', async t => {
  const file = path.join(tempDir(t, 'limits'), 'limits.json')
  writeLimits(file, { shop: { ingest: '1MiB/s', burst: '2MiB' } })
  const server = await startServer(t, { args: ['--limits', file] })
  const agent = await startAgent(t, server, ['--ring-size', '4MiB', '--metrics-listen', '127.0.0.1:0'])
  const mounted = agent.events.find(e => e.event === 'mounted') as { metrics: { port: number } }
  const agentUrl = `http://127.0.0.1:${mounted.metrics.port}`
  for (const d of ['shop/app', 'quiet/app']) fs.mkdirSync(path.join(agent.mnt, d), { recursive: true })

  // 40 MiB as fast as the writer can: far over 10 MiB/s until the ring is full, then as fast as the ring empties.
  const lines = 10240
  const size = 4096
  const flood = writer({ file: path.join(agent.mnt, 'shop/app/flood.log'), lines, size, prefix: 'F' })
  const source = 'testnode/shop/app/flood.log'
  await waitFor('the burst stored', async () => await stored(server, source) >= 2 * MiB)
  await waitFor('the flood blocked on its full ring',
    async () => await metric(agentUrl, 'logfs_agent_writes_blocked_total', { tenant: 'shop' }) > 0)
  const quiet = runSteady(path.join(agent.mnt, 'quiet/app/q.log'), 1000, 200, 1)

  // The agent has one batch of a tenant in flight at a time, so once the server throttled one, every batch cut
  // before it (the burst's, at --batch-size) has been counted.
  await waitFor('the flood throttled',
    async () => await metric(server.http, 'logfs_tenant_throttled_batches_total', { tenant: 'shop' }) > 0)
  const sizes0 = await batchSizes(server.http, 'shop', 256 * 1024)
  const rate = await storedRate(server, source, 5000)
  const sizes1 = await batchSizes(server.http, 'shop', 256 * 1024)
  t.comment(`shop stored at ${(rate / MiB).toFixed(2)} MiB/s while limited to 1 MiB/s`)
  t.ok(rate > 0.5 * MiB && rate < 1.6 * MiB, 'the flooding tenant is stored at about its rate')
  // Batches of --batch-size (1 MiB) would arrive as one lump a second, which other tenants' latency would feel.
  const batches = sizes1.all - sizes0.all
  t.ok(batches >= 5, `the throttled tenant's batches were counted (${batches} in 5 s)`)
  t.equal(sizes1.small - sizes0.small, batches, 'a throttled tenant ships in small batches: each of at most 256 KiB')
  const q = await quiet
  t.equal(q.failed, 0, 'the quiet writer never failed')
  // The quiet tenant has no limit: its lines arrive while the flood is still held at 1 MiB/s.
  await arrived(server, 'testnode/quiet/app/q.log', 1000 * steadyLine(1, 0).length, 5000)
  t.ok(await stored(server, source) < lines * size / 2, 'the flood was still held back when the quiet tenant was done')
  await checkExactlyOnce(t, server, 'testnode/quiet/app/q.log', 1, 1000)
  t.ok(await metric(agentUrl, 'logfs_agent_tenant_paused_seconds_total', { tenant: 'shop' }) > 1,
    'the agent counts the seconds it paused the flooding tenant')
  t.equal(await metric(agentUrl, 'logfs_agent_tenant_paused_seconds_total', { tenant: 'quiet' }), 0,
    'and never paused the quiet one')
  t.ok(await metric(server.http, 'logfs_tenant_throttled_batches_total', { tenant: 'shop' }) > 0)

  writeLimits(file, { shop: { ingest: '64MiB/s', burst: '64MiB' } })
  const reloaded = Date.now()
  const left = lines * size - await stored(server, source)
  const w = await flood.done
  t.equal(w.error, null, 'the flooding writer waited (block) and never failed')
  await arrived(server, source, lines * size, 30000)
  const after = left / ((Date.now() - reloaded) / 1000)
  t.comment(`after the reload: ${(left / MiB).toFixed(1)} MiB at ${(after / MiB).toFixed(2)} MiB/s, reload included`)
  t.ok(after > 2.5 * MiB, 'the raised rate took effect mid-flood')
  const got = (await readSource(server, source)).toString()
  t.ok(got === expected('F', lines, size), 'every flood line stored once, in order')
})

t.test('a mount under drop: the throttled tenant\'s lines beyond its ring are dropped and counted, never waited on',
  async t => {
    const file = path.join(tempDir(t, 'limits'), 'limits.json')
    writeLimits(file, { shop: { ingest: '1MiB/s', burst: '1MiB' } })
    const server = await startServer(t, { args: ['--limits', file] })
    const agent = await startAgent(t, server,
      ['--ring-size', '2MiB', '--full-policy', 'drop', '--metrics-listen', '127.0.0.1:0'])
    const mounted = agent.events.find(e => e.event === 'mounted') as { metrics: { port: number } }
    const agentUrl = `http://127.0.0.1:${mounted.metrics.port}`
    fs.mkdirSync(path.join(agent.mnt, 'shop'))
    const lines = 4096
    const size = 4096
    const started = Date.now()
    const w = await writer({ file: path.join(agent.mnt, 'shop/flood.log'), lines, size, prefix: 'D' }).done
    const secs = (Date.now() - started) / 1000
    t.equal(w.error, null, 'no write failed')
    t.comment(`16 MiB written in ${secs.toFixed(1)} s`)
    t.ok(secs < 8, 'the writer never waited for the 1 MiB/s the server takes')
    const dropped = await metric(agentUrl, 'logfs_agent_bytes_dropped_total', { tenant: 'shop' })
    t.ok(dropped > 4 * MiB, `${dropped} bytes dropped and counted`)
    // A last line once the ring has emptied: the server learns the dropped bytes as a gap before it.
    const source = 'testnode/shop/flood.log'
    await waitFor('the ring emptied at the rate',
      async () => await stored(server, source) + dropped >= lines * size, 20000)
    await append([[path.join(agent.mnt, 'shop/flood.log'), 'end\n']])
    await arrived(server, source, lines * size - dropped + 4, 20000)
    const row = (await sources(server)).find(s => s.source === source)
    t.equal(row?.gapBytes, dropped, 'what the agent dropped is the gap on the server')
    t.equal(row?.bytes, lines * size - dropped + 4, 'everything else stored')
  })
