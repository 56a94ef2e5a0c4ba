// Fair shipping in the agent: tenants take turns for a bounded window of bytes in flight, so a quiet tenant's batch
// never waits for another tenant's backlog. The server is frozen (SIGSTOP) while eight tenants pile up a backlog,
// which makes the turn order visible: what is in flight while it is frozen, and what it stores before the quiet
// tenant's line once it runs again.
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { arrived, readSource, sleep, startAgent, startServer, waitFor } from './helpers/cluster'
import { MiB, metric } from './helpers/rate'

const KiB = 1024
const FLOODS = 8
const BACKLOG = 3 * MiB
const BATCH = 256 * KiB

t.test('eight tenants with a backlog: at most a window in flight, and a quiet tenant goes ahead of the backlog',
  async t => {
    const server = await startServer(t)
    const agent = await startAgent(t, server, ['--batch-size', '256KiB', '--metrics-listen', '127.0.0.1:0'])
    const mounted = agent.events.find(e => e.event === 'mounted') as { metrics: { port: number } }
    const agentUrl = `http://127.0.0.1:${mounted.metrics.port}`
    const m = (name: string, labels?: Record<string, string>): Promise<number> => metric(agentUrl, name, labels)

    server.proc.kill('SIGSTOP')
    t.teardown(() => { server.proc.kill('SIGCONT') })
    const chunk = Buffer.from(('f'.repeat(255) + '\n').repeat(256))
    for (let i = 0; i < FLOODS; i++) {
      const dir = path.join(agent.mnt, `flood${i}`)
      fs.mkdirSync(dir)
      const fd = fs.openSync(path.join(dir, 'a.log'), 'a')
      for (let at = 0; at < BACKLOG; at += chunk.length) fs.writeSync(fd, chunk)
      fs.closeSync(fd)
    }
    // One worker: a window of two batches. Each batch is cut at a share of it once the tenants contend.
    await sleep(1000)
    const inFlight = await m('logfs_agent_bytes_sent_total') - await m('logfs_agent_bytes_acked_total')
    t.comment(`${(inFlight / KiB).toFixed(0)} KiB in flight to a frozen server, ${FLOODS} tenants with a backlog`)
    t.ok(inFlight > 0 && inFlight <= 3 * BATCH, 'a window of batches in flight, not one batch per tenant')

    fs.mkdirSync(path.join(agent.mnt, 'quiet'))
    fs.writeFileSync(path.join(agent.mnt, 'quiet', 'q.log'), 'the quiet line\n')
    await sleep(100)
    server.proc.kill('SIGCONT')
    await waitFor('the quiet line acknowledged',
      async () => await m('logfs_agent_ring_held_bytes', { tenant: 'quiet' }) === 0, 30_000)
    let held = 0
    for (let i = 0; i < FLOODS; i++) held += await m('logfs_agent_ring_held_bytes', { tenant: `flood${i}` })
    const ahead = FLOODS * BACKLOG - held
    t.comment(`${(ahead / MiB).toFixed(2)} MiB of ${FLOODS * BACKLOG / MiB} MiB stored before the quiet line`)
    t.ok(ahead < FLOODS * BACKLOG / 3, 'the quiet line went ahead of the backlog')

    for (let i = 0; i < FLOODS; i++) await arrived(server, `testnode/flood${i}/a.log`, BACKLOG, 60_000)
    for (let i = 0; i < FLOODS; i++) {
      const got = await readSource(server, `testnode/flood${i}/a.log`)
      t.equal(got.length, BACKLOG, `flood${i}: every byte stored once`)
    }
    t.equal((await readSource(server, 'testnode/quiet/q.log')).toString(), 'the quiet line\n')
  })
