// Nothing accepted is lost when the server dies, the agent is stopped, or a ring fills up.
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { expected, line } from './fixtures/lines'
import {
  arrived, freePort, waitFor, readSource, sleep, sources, startAgent, startServer, writer,
} from './helpers/cluster'

t.test('server killed with SIGKILL and restarted three times mid-stream: every byte exactly once', async t => {
  let server = await startServer(t)
  const { port, dataDir } = server
  const agent = await startAgent(t, server, ['--ack-timeout', '3s'])
  fs.mkdirSync(path.join(agent.mnt, 'prod'), { recursive: true })
  const lines = 2500
  const ws = [0, 1].map(i =>
    writer({ file: path.join(agent.mnt, `prod/k${i}.log`), lines, size: 200, prefix: `k${i}`, delayMs: 1 }))
  for (let round = 0; round < 3; round++) {
    await sleep(700)
    server.proc.kill('SIGKILL')
    await server.exited
    await sleep(300)
    server = await startServer(t, { port, dataDir })
  }
  const results = await Promise.all(ws.map(w => w.done))
  for (const r of results) t.same(r, { lines, bytes: lines * 200, error: null })
  for (let i = 0; i < 2; i++) {
    await arrived(server, `testnode/prod/k${i}.log`, lines * 200)
    t.ok((await readSource(server, `testnode/prod/k${i}.log`)).toString() === expected(`k${i}`, lines, 200),
      `k${i}.log: every line once, in order`)
  }
  const report = await agent.stop()
  t.equal(report.ok, true)
  t.ok((report.ship as { failures: number }).failures > 0, 'the agent did see the server go away')
})

t.test('SIGTERM of the agent mid-stream: every write that succeeded is shipped before it exits', async t => {
  const server = await startServer(t)
  const agent = await startAgent(t, server)
  fs.mkdirSync(path.join(agent.mnt, 'prod'), { recursive: true })
  const w = writer({
    file: path.join(agent.mnt, 'prod/term.log'), lines: 100000, size: 200, prefix: 'term', delayMs: 1,
  })
  await sleep(1500)
  const report = await agent.stop()
  t.equal(await agent.exited, 0, 'agent exits 0')
  t.equal(report.ok, true, 'agent reports nothing left unshipped')
  const r = await w.done
  t.ok(r.lines > 100 && r.lines < 100000, `the writer wrote ${r.lines} lines before the mount went away`)
  t.ok(r.error, `the writer was told the disk went away (${r.error})`)
  t.ok((await readSource(server, 'testnode/prod/term.log')).toString() === expected('term', r.lines, 200),
    'every line written before the stop arrived, once')
})

t.test('full ring under block: the writer waits, loses nothing, and other tenants keep writing', async t => {
  const port = await freePort()
  const agent = await startAgent(t, `ws://127.0.0.1:${port}`, ['--memory', '2MiB', '--ring-size', '1MiB', '--ack-timeout', '2s'])
  fs.mkdirSync(path.join(agent.mnt, 'flood'), { recursive: true })
  fs.mkdirSync(path.join(agent.mnt, 'calm'), { recursive: true })
  const lines = 15000 // 3 MB into a 1 MiB ring with no server
  const flood = writer({ file: path.join(agent.mnt, 'flood/big.log'), lines, size: 200, prefix: 'fl' })
  await sleep(1500)
  t.equal(flood.proc.exitCode, null, 'the flooding writer is blocked while the server is away')
  const calm = await writer({ file: path.join(agent.mnt, 'calm/small.log'), lines: 200, size: 200, prefix: 'ca' }).done
  t.same(calm, { lines: 200, bytes: 40000, error: null }, 'another tenant writes freely meanwhile')
  t.equal(flood.proc.exitCode, null, 'still blocked')
  const server = await startServer(t, { port })
  const r = await flood.done
  t.same(r, { lines, bytes: lines * 200, error: null })
  await arrived(server, 'testnode/flood/big.log', lines * 200)
  t.ok((await readSource(server, 'testnode/flood/big.log')).toString() === expected('fl', lines, 200),
    'all of it arrived, once, in order')
  await arrived(server, 'testnode/calm/small.log', 40000)
  const report = await agent.stop()
  const tenants = report.tenants as Array<{ tenant: string, blockedWrites: number, droppedBytes: number }>
  t.ok(tenants.find(x => x.tenant === 'flood')!.blockedWrites > 0, 'blocked writes are counted')
  t.equal(tenants.find(x => x.tenant === 'calm')!.blockedWrites, 0)
})

t.test('full ring under drop: the writer never waits and exactly the dropped bytes are missing', async t => {
  const port = await freePort()
  const agent = await startAgent(t, `ws://127.0.0.1:${port}`, ['--memory', '1MiB', '--ring-size', '1MiB', '--full-policy', 'drop', '--ack-timeout', '2s'])
  fs.mkdirSync(path.join(agent.mnt, 'app'), { recursive: true })
  const file = path.join(agent.mnt, 'app/drop.log')
  const lines = 15000
  const r = await writer({ file, lines, size: 200, prefix: 'dr' }).done
  t.same(r, { lines, bytes: lines * 200, error: null }, 'the writer finished without waiting for a server')
  const server = await startServer(t, { port })
  let last = -1
  await waitFor('the ring to drain', async () => {
    const now = (await sources(server)).find(s => s.source === 'testnode/app/drop.log')?.bytes ?? 0
    const stable = now > 0 && now === last
    last = now
    await sleep(300)
    return stable
  })
  // Later lines make the dropped stretch visible to the server as a gap in the cursor.
  const after = await writer({ file, lines: 10, size: 200, prefix: 'af' }).done
  t.equal(after.lines, 10)
  const report = await agent.stop()
  const dropped = (report.tenants as Array<{ droppedBytes: number, droppedWrites: number }>)[0]
  t.ok(dropped.droppedBytes > 0, `dropped ${dropped.droppedBytes} bytes`)
  t.equal(dropped.droppedBytes % 200, 0, 'whole lines are dropped, even where the kernel split a write')
  const src = (await sources(server)).find(s => s.source === 'testnode/app/drop.log')!
  t.equal(src.bytes + dropped.droppedBytes, (lines + 10) * 200, 'stored + dropped = written')
  t.equal(src.gapBytes, dropped.droppedBytes, 'the server sees exactly the dropped bytes as a gap')
  const stored = (await readSource(server, 'testnode/app/drop.log')).toString()
  const all = new Set<string>()
  for (let n = 0; n < lines; n++) all.add(line('dr', n, 200))
  for (let n = 0; n < 10; n++) all.add(line('af', n, 200))
  const got = stored.match(/[^\n]*\n/g) ?? []
  t.ok(got.every(l => all.has(l)), 'what arrived is whole lines that were written')
  t.ok(stored.endsWith(expected('af', 10, 200)), 'the lines after the gap arrived')
})
