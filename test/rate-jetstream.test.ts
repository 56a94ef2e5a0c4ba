// The ingest rate behind two gateways of a real JetStream cluster, each started with --gateways 2: each gateway
// lets a tenant through at half its rate, so the tenant's total across both is its rate.
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { TOKEN, startAgent, startServer, tempDir, waitFor, writer } from './helpers/cluster'
import { batch, connect } from './helpers/ingest'
import { MiB, metric, stored, storedRate, writeLimits } from './helpers/rate'
import { NatsCluster } from '../bench/natscluster'
import { decodeFrame, encodeFrame } from '../lib/wire/frames'

t.test('two gateways with --gateways 2: each throttles a tenant at half its rate', async t => {
  const nats = await NatsCluster.start(3)
  t.teardown(() => nats.stop())
  const file = path.join(tempDir(t, 'limits'), 'limits.json')
  writeLimits(file, { shop: { ingest: '1MiB/s', burst: '1MiB' } })
  const args = ['--store', nats.url, '--replicas', '3', '--retention-size', '256MiB', '--gateways', '2',
    '--limits', file]
  const g1 = await startServer(t, { args })
  const g2 = await startServer(t, { args })

  // Through gateway 2, raw: the burst, then a throttle that asks for the wait of half the rate.
  const ws = await connect(g2.ws, TOKEN, { 'logfs-features': 'throttle' })
  const frame = (seq: number, offset: number): Buffer => encodeFrame(
    batch(seq, 'shop', [['shop/raw.log', offset, Date.now(), Buffer.alloc(MiB / 2, 0x61)]], { node: 'raw' }),
    false, { seq, tenant: 'shop', bytes: MiB / 2 })
  // Sent back to back: the first stream setup in the cluster can take seconds, and the bucket refills meanwhile.
  const answers = new Map<number, Record<string, unknown>>()
  ws.on('message', (d: Buffer) => { const f = decodeFrame(d) as { seq: number }; answers.set(f.seq, f) })
  for (const seq of [1, 2, 3]) ws.send(frame(seq, (seq - 1) * MiB / 2))
  await waitFor('three answers', () => answers.size === 3, 30000)
  t.match(answers.get(1), { t: 'ack', seq: 1 })
  t.match(answers.get(2), { t: 'ack', seq: 2 }, 'the whole burst on one gateway')
  const throttle = answers.get(3)
  t.match(throttle, { t: 'throttle', seq: 3, tenant: 'shop' })
  const wait = throttle?.retryAfterMs as number
  t.ok(wait > 800 && wait <= 1000, `retryAfterMs ${wait}: half a MiB at half a MiB/s (at 1 MiB/s it would be 500)`)
  ws.close()

  // Through gateway 1, a mount flooding the tenant: stored at half its rate.
  const agent = await startAgent(t, g1, ['--ring-size', '2MiB'])
  fs.mkdirSync(path.join(agent.mnt, 'shop/app'), { recursive: true })
  const flood = writer({ file: path.join(agent.mnt, 'shop/app/flood.log'), lines: 4096, size: 4096, prefix: 'F' })
  const source = 'testnode/shop/app/flood.log'
  await waitFor('the burst stored', async () => await stored(g1, source) >= MiB, 30000)
  const rate = await storedRate(g1, source, 6000)
  t.comment(`through one of two gateways: ${(rate / MiB).toFixed(2)} MiB/s of a 1 MiB/s limit`)
  t.ok(rate > 0.3 * MiB && rate < 0.75 * MiB, 'one gateway of two lets the tenant through at about half its rate')
  t.ok(await metric(g1.http, 'logfs_tenant_throttled_batches_total', { tenant: 'shop' }) > 0)
  t.equal(await metric(g2.http, 'logfs_tenant_ingest_bytes_total', { tenant: 'shop' }), MiB,
    'each gateway counts what it let through')
  flood.proc.kill('SIGKILL')
  await flood.done.catch(() => {})
})
