// Node names: two mounts on one host get distinct nodes by default, a mount under a node another live agent holds
// is refused before it takes a write, and a holder that is only a half-open connection does not lock a node out.
import t from 'tap'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type WebSocket from 'ws'
import { encodeFrame } from '../lib/wire/frames'
import { defaultNode } from '../lib/cli/options'
import { expected } from './fixtures/lines'
import { batch, connect, exchange } from './helpers/ingest'
import {
  TOKEN, api, arrived, mounted, readSource, run, startAgent, startServer, tempDir, writer,
} from './helpers/cluster'

const rec = (p: string, offset: number, text: string): unknown[] => [p, offset, Date.now(), Buffer.from(text)]

t.test('the default node is the hostname and the mount point, in the characters a node name may hold', async t => {
  t.equal(defaultNode('/var/log/pods', 'web-1'), 'web-1_var-log-pods')
  t.equal(defaultNode('/mnt/a b/ü', 'h.example.com'), 'h.example.com_mnt-a_b-_')
  t.equal(defaultNode('/', 'web-1'), 'web-1')
})

t.test('two mounts on one host at the default node: each ships under its own node, nothing is lost', async t => {
  const server = await startServer(t)
  const a = await startAgent(t, server, [], undefined, { node: null })
  const b = await startAgent(t, server, [], undefined, { node: null })
  for (const agent of [a, b]) fs.mkdirSync(path.join(agent.mnt, 'prod'))
  const writes = [a, b].map((agent, i) =>
    writer({ file: path.join(agent.mnt, 'prod/app.log'), lines: 900, size: 100, prefix: `m${i}` }).done)
  for (const w of await Promise.all(writes)) t.same(w, { lines: 900, bytes: 90000, error: null })
  for (const [i, agent] of [a, b].entries()) {
    const source = `${defaultNode(agent.mnt, os.hostname())}/prod/app.log`
    await arrived(server, source, 90000)
    t.equal((await readSource(server, source)).toString(), expected(`m${i}`, 900, 100), `${source}: every line`)
  }
  for (const agent of [b, a]) t.match(await agent.stop(), { ok: true, pendingBytes: 0 }, 'each stops clean')
})

t.test('a mount under a node another live mount holds is refused before it takes a write (exit 2)', async t => {
  const server = await startServer(t)
  // The holder has written nothing yet: an idle mount holds its node too.
  const first = await startAgent(t, server)
  for (const supervised of [false, true]) {
    const mnt = tempDir(t, 'mnt')
    const second = run(['mount', mnt, '--server', server.ws, '--node', 'testnode', '--state-dir', tempDir(t, 'state'),
      ...(supervised ? [] : ['--no-supervise'])], { env: { ...process.env, LOGFS_TOKEN: TOKEN } })
    const what = supervised ? 'supervised' : 'unsupervised'
    t.equal(await second.exited, 2, `${what}: the second mount exits 2`)
    t.match(second.stderr, /logfs: node testnode is in use by another agent \(generation \d+, connected from .+\); give each mount its own --node; this mount would take writes it could never ship/,
      `${what}: it says why`)
    t.notOk(mounted(mnt), `${what}: nothing was mounted`)
  }
  fs.mkdirSync(path.join(first.mnt, 'prod'))
  const w = writer({ file: path.join(first.mnt, 'prod/app.log'), lines: 500, size: 80, prefix: 'one' })
  t.same(await w.done, { lines: 500, bytes: 40000, error: null })
  await arrived(server, 'testnode/prod/app.log', 40000)
  t.equal((await readSource(server, 'testnode/prod/app.log')).toString(), expected('one', 500, 80),
    'the holder ships everything')
  const metrics = (await api<Buffer>(server, '/metrics')).body.toString()
  t.match(metrics, /logfs_server_batches_conflict_total [1-9]/, 'the refusals are counted')
  t.match(await first.stop(), { ok: true })
  const third = await startAgent(t, server)
  t.ok(mounted(third.mnt), 'once the holder is gone, the node is free')
  t.match(await third.stop(), { ok: true })
})

t.test('a holder that is a half-open connection (a rebooted node) does not lock its node out', async t => {
  const server = await startServer(t)
  const old = await connect(server.ws, TOKEN)
  const { frame } = await exchange(old, encodeFrame({ t: 'claim', seq: 1, node: 'testnode', gen: 1 }, false))
  t.match(frame, { t: 'ack', seq: 1, stored: 0 }, 'a claim is acknowledged')
  // Reading nothing more, the old connection never answers the server's ping: a peer that is gone.
  ;(old as unknown as { _socket: { pause: () => void } })._socket.pause()
  const agent = await startAgent(t, server)
  fs.mkdirSync(path.join(agent.mnt, 'prod'))
  const w = writer({ file: path.join(agent.mnt, 'prod/app.log'), lines: 200, size: 80, prefix: 'new' })
  t.same(await w.done, { lines: 200, bytes: 16000, error: null })
  await arrived(server, 'testnode/prod/app.log', 16000)
  t.equal((await readSource(server, 'testnode/prod/app.log')).toString(), expected('new', 200, 80))
  t.match(await agent.stop(), { ok: true })
  old.terminate()
})

t.test('batches of two generations under one node: the holder is stored, the other refused until it is gone',
  async t => {
    const server = await startServer(t)
    const send = async (ws: WebSocket, seq: number, gen: number, offset: number, text: string):
      Promise<Record<string, unknown> | null> =>
      (await exchange(ws, encodeFrame(batch(seq, 'prod', [rec('prod/a.log', offset, text)], { gen }), false))).frame
    const one = await connect(server.ws, TOKEN)
    const two = await connect(server.ws, TOKEN)
    t.match(await send(one, 1, 10, 0, 'one\n'), { t: 'ack', stored: 4 })
    t.match(await send(two, 1, 20, 0, 'two\n'), { t: 'nack', code: 'conflict', message: /give each mount its own --node/ })
    one.close()
    await new Promise(resolve => one.once('close', resolve))
    let answer = await send(two, 2, 20, 0, 'two\n')
    for (let i = 0; answer?.t !== 'ack' && i < 20; i++) {
      await new Promise(resolve => setTimeout(resolve, 100))
      answer = await send(two, 3 + i, 20, 0, 'two\n')
    }
    t.match(answer, { t: 'ack', stored: 4 }, 'once the holder closed, the other generation is stored')
    t.equal((await readSource(server, 'n1/prod/a.log')).toString(), 'one\ntwo\n', 'in cursor order, never interleaved')
    two.close()
  })
