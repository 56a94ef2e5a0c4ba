// What every gateway of a cluster must agree on, kept in the cluster's KV buckets: which agent generation holds a
// node (LOGFS_CLAIMS), and the high-water marks of sources retention emptied (LOGFS_MARKS). Real 3-node cluster,
// real gateways: two agents under one node on two gateways, one refused until the other is gone (released, or its
// gateway killed and its claim stale); a real mount refused under a node a mount on another gateway holds; a
// resend of bytes retention removed, a duplicate on a gateway started after they were gone.
import t, { type Test } from 'tap'
import type WebSocket from 'ws'
import { connect as natsConnect } from '@nats-io/transport-node'
import { Kvm } from '@nats-io/kv'
import { encodeFrame } from '../lib/wire/frames'
import { batch, connect, exchange } from './helpers/ingest'
import {
  TOKEN, mounted, readSource, run, sleep, sources, startAgent, startServer, tempDir, waitFor, type Server,
} from './helpers/cluster'
import { NatsCluster } from '../bench/natscluster'
import { ServerLink } from '../lib/ship/link'

async function cluster (t: Test): Promise<NatsCluster> {
  const nats = await NatsCluster.start(3)
  t.teardown(() => nats.stop())
  return nats
}

function gateway (t: Test, nats: NatsCluster, extra: string[] = []): Promise<Server> {
  return startServer(t, { args: ['--store', nats.url, '--replicas', '3', '--retention-size', '256MiB', ...extra] })
}

async function stop (s: Server, signal: NodeJS.Signals): Promise<void> {
  s.proc.kill(signal)
  await s.exited
}

async function frame (ws: WebSocket, f: object): Promise<Record<string, unknown> | null> {
  return (await exchange(ws, encodeFrame(f, false))).frame
}

const claim = (ws: WebSocket, seq: number, gen: number): Promise<Record<string, unknown> | null> =>
  frame(ws, { t: 'claim', seq, node: 'shared', gen })

const write = (ws: WebSocket, seq: number, gen: number, offset: number, text: string):
  Promise<Record<string, unknown> | null> =>
  frame(ws, batch(seq, 'prod', [[`prod/g${gen}.log`, offset, Date.now(), Buffer.from(text)]], { node: 'shared', gen }))

/** Claims until acknowledged; the milliseconds it took. */
async function claimUntilHeld (ws: WebSocket, gen: number, timeoutMs: number): Promise<number> {
  const start = Date.now()
  await waitFor(`generation ${gen} holds the node`, async () => (await claim(ws, 100, gen))?.t === 'ack', timeoutMs)
  return Date.now() - start
}

async function closed (ws: WebSocket): Promise<void> {
  ws.close()
  await new Promise(resolve => ws.once('close', resolve))
}

t.test('one node, two generations on two gateways: the second is refused until the first is gone', async t => {
  const nats = await cluster(t)
  const [g1, g2, g3] = await Promise.all([gateway(t, nats), gateway(t, nats), gateway(t, nats)])
  const one = await connect(g1.ws, TOKEN)
  const two = await connect(g2.ws, TOKEN)
  t.teardown(() => { one.terminate(); two.terminate() })

  t.match(await claim(one, 1, 1), { t: 'ack', seq: 1, stored: 0 }, 'generation 1 takes the node through gateway 1')
  t.match(await claim(two, 1, 2), {
    t: 'nack', seq: 1, code: 'conflict',
    message: /^node shared is in use by another agent \(generation 1, connected from .+\); give each mount its own --node$/,
  }, 'generation 2 is refused through gateway 2, with the holder named as on one server')
  t.match(await write(two, 2, 2, 0, 'two\n'), { t: 'nack', code: 'conflict' }, 'and so is its batch')
  t.match(await write(one, 2, 1, 0, 'one\n'), { t: 'ack', stored: 4 }, 'the holder stores')
  t.match(await write(one, 3, 1, 4, 'more\n'), { t: 'ack', stored: 5 }, 'and goes on storing')

  t.comment('the holder moves to gateway 3 (its generation, a second connection), then leaves gateway 1')
  const moved = await connect(g3.ws, TOKEN)
  t.teardown(() => moved.terminate())
  t.match(await claim(moved, 1, 1), { t: 'ack' }, 'the same generation is let in on another gateway')
  t.match(await write(moved, 2, 1, 9, 'moved\n'), { t: 'ack', stored: 6 }, 'and stores there')
  await closed(one)
  // Longer than a claim stays fresh unrefreshed, and than gateway 3 leaves it to gateway 1 once that stopped.
  await sleep(16_000)
  t.match(await claim(two, 3, 2), { t: 'nack', code: 'conflict' },
    'gateway 3 keeps the claim fresh while its connection is open, though gateway 1 let go')
  await closed(moved)
  const waited = await claimUntilHeld(two, 2, 10_000)
  t.ok(waited < 5000, `once the holder closed everywhere, the other generation gets in at once (${waited} ms)`)
  t.match(await write(two, 4, 2, 0, 'two\n'), { t: 'ack', stored: 4 }, 'and stores')

  t.comment('the gateway holding the node is killed: its claim goes stale')
  const three = await connect(g1.ws, TOKEN)
  t.teardown(() => three.terminate())
  t.match(await claim(three, 1, 3), { t: 'nack', code: 'conflict', message: /generation 2/ },
    'generation 3 is refused while generation 2 holds the node through gateway 2')
  const killedAt = Date.now()
  await stop(g2, 'SIGKILL')
  t.match(await claim(three, 2, 3), { t: 'nack', code: 'conflict' }, 'a claim of a killed gateway holds at first')
  await claimUntilHeld(three, 3, 30_000)
  const took = Date.now() - killedAt
  t.ok(took >= 9000 && took < 25_000, `taken over once stale, about 15 s after the last refresh (${took} ms)`)
  t.match(await write(three, 3, 3, 0, 'three\n'), { t: 'ack', stored: 6 }, 'the new holder stores')
  t.equal((await readSource(g3, 'shared/prod/g1.log')).toString(), 'one\nmore\nmoved\n', 'every byte of each holder')
  t.equal((await readSource(g3, 'shared/prod/g2.log')).toString(), 'two\n')
  t.equal((await readSource(g3, 'shared/prod/g3.log')).toString(), 'three\n')
})

t.test('a mount under a node a mount on another gateway holds is refused before it takes a write', async t => {
  const nats = await cluster(t)
  const [g1, g2] = await Promise.all([gateway(t, nats), gateway(t, nats)])
  const first = await startAgent(t, g1)
  const mnt = tempDir(t, 'mnt')
  const second = run(['mount', mnt, '--server', g2.ws, '--node', 'testnode', '--state-dir', tempDir(t, 'state'),
    '--no-supervise'], { env: { ...process.env, LOGFS_TOKEN: TOKEN } })
  t.equal(await second.exited, 2, 'the second mount exits 2')
  t.match(second.stderr, /node testnode is in use by another agent \(generation \d+, connected from .+\)/,
    'it says why')
  t.notOk(mounted(mnt), 'nothing was mounted')
  t.match(await first.stop(), { ok: true })
  const third = await startAgent(t, g2)
  t.ok(mounted(third.mnt), 'once the holder stopped, a mount through the other gateway takes the node')
  t.match(await third.stop(), { ok: true })
})

t.test('a resend of bytes retention removed is a duplicate on a gateway started after they were gone', async t => {
  const nats = await cluster(t)
  const args = ['--retention-age', '2s']
  const g1 = await gateway(t, nats, args)
  const l1 = new ServerLink({ urls: [`${g1.ws}/v1/ingest`], token: TOKEN, timeoutMs: 15000, compress: false })
  t.teardown(() => l1.close())
  const old = Buffer.from('old\n')
  const send = (l: ServerLink, offset: number, data: Buffer): ReturnType<ServerLink['send']> =>
    l.send({ node: 'n', tenant: 'brief', gen: 1, recs: [['brief/a.log', offset, Date.now(), data]] })
  t.match((await send(l1, 0, old)).ack, { stored: 4 })
  // No read asks: the gateway notices retention on its own.
  const nc = await natsConnect({ servers: nats.url.replace('nats://', '').split(',') })
  t.teardown(() => nc.close())
  const marks = await new Kvm(nc).open('LOGFS_MARKS')
  const key = Buffer.from('n/brief/a.log').toString('base64url')
  const entry = await waitFor('the marks of the emptied source in LOGFS_MARKS', () => marks.get(key), 30_000)
  t.same(entry?.json(), { version: 1, marks: { 1: 4 } }, 'written in format 1: generation → offset past the last byte')
  await stop(g1, 'SIGKILL')

  const g2 = await gateway(t, nats, args)
  const l2 = new ServerLink({ urls: [`${g2.ws}/v1/ingest`], token: TOKEN, timeoutMs: 15000, compress: false })
  t.teardown(() => l2.close())
  t.match((await send(l2, 0, old)).ack, { stored: 0, duplicate: 4 }, 'the resend is known as one, not stored again')
  t.match((await send(l2, 4, Buffer.from('new\n'))).ack, { stored: 4, duplicate: 0 }, 'the bytes after it are stored')
  t.equal((await readSource(g2, 'n/brief/a.log')).toString(), 'new\n', 'only once')
  t.match((await sources(g2)).find(s => s.source === 'n/brief/a.log'), { bytes: 4, gapBytes: 0 },
    'and they go on from the marks, no gap')
})
