// Hundreds of tenants on one node (lib/native/fuse/budget.h): every tenant gets a ring, the rings share --memory
// (each tenant's reserve, and a pool it borrows from up to its ring), a flooding tenant stops at its cap while a
// quiet one keeps writing, and a takeover goes on with every tenant. Real mounts, writers in child processes.
import t, { type Test } from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import {
  append, fixture, freePort, readSource, sleep, sources, startAgent, startServer, waitFor, writer, type Server,
} from './helpers/cluster'
import { metric, MiB } from './helpers/rate'
import { expected } from './fixtures/lines'
import type { ManySpec } from './fixtures/manyfiles'

const KiB = 1024

/** Tenants t000… with one file each, written by `procs` processes of many files each. */
function tenants (mnt: string, n: number, first = 0): { files: string[], prefixes: string[] } {
  const prefixes = Array.from({ length: n }, (_, i) => `t${String(first + i).padStart(3, '0')}`)
  for (const p of prefixes) fs.mkdirSync(path.join(mnt, p))
  return { prefixes, files: prefixes.map(p => path.join(mnt, p, 'app.log')) }
}

function manyWriters (set: { files: string[], prefixes: string[] }, procs: number, rounds: number, intervalMs: number,
  size: number): Array<Promise<{ lines: number, error: string | null }>> {
  const per = Math.ceil(set.files.length / procs)
  return Array.from({ length: procs }, (_, i) => {
    const spec: ManySpec = {
      files: set.files.slice(i * per, (i + 1) * per), prefixes: set.prefixes.slice(i * per, (i + 1) * per),
      rounds, intervalMs, size,
    }
    return fixture<{ lines: number, error: string | null }>('manyfiles', spec).done
  })
}

/** Waits until the server holds `bytes` of every one of `names` (sources under testnode/). */
async function allArrived (server: Server, bytes: Map<string, number>, timeoutMs: number): Promise<void> {
  await waitFor(`${bytes.size} sources complete`, async () => {
    const held = new Map((await sources(server)).map(s => [s.source, s.bytes]))
    for (const [source, want] of bytes) if ((held.get(source) ?? 0) < want) return undefined
    return true
  }, timeoutMs)
}

/** Every line of each tenant's file exactly once and in order. */
async function checkTenants (t: Test, server: Server, prefixes: string[], rounds: number, size: number):
  Promise<void> {
  let bad: string[] = []
  for (const p of prefixes) {
    const got = (await readSource(server, `testnode/${p}/app.log`)).toString()
    if (got !== expected(p, rounds, size)) bad.push(p)
  }
  bad = bad.slice(0, 5)
  t.same(bad, [], `every one of ${prefixes.length} tenants has each of its ${rounds} lines once, in order`)
}

t.test('300 tenants at 10 lines/s and one flooding, default flags: every line stored once, no writer error',
  async t => {
    const server = await startServer(t)
    const agent = await startAgent(t, server, ['--metrics-listen', '127.0.0.1:0'])
    const mounted = agent.events.find(e => e.event === 'mounted') as { metrics: { port: number } }
    const agentUrl = `http://127.0.0.1:${mounted.metrics.port}`
    const set = tenants(agent.mnt, 300)
    fs.mkdirSync(path.join(agent.mnt, 'flood'))
    const floodLines = 60_000
    const flood = writer({ file: path.join(agent.mnt, 'flood/app.log'), lines: floodLines, size: 512, prefix: 'F' })
    const rounds = 60
    const size = 100
    const results = await Promise.all(manyWriters(set, 3, rounds, 100, size))
    for (const r of results) t.same(r, { lines: 100 * rounds, error: null }, 'a writer of 100 files wrote every line')
    const f = await flood.done
    t.equal(f.error, null, 'the flooding writer saw no error')
    const want = new Map(set.prefixes.map(p => [`testnode/${p}/app.log`, rounds * size]))
    want.set('testnode/flood/app.log', floodLines * 512)
    await allArrived(server, want, 60_000)
    await checkTenants(t, server, set.prefixes, rounds, size)
    t.equal((await readSource(server, 'testnode/flood/app.log')).toString(), expected('F', floodLines, 512),
      'the flood too, once each')
    const pool = await metric(agentUrl, 'logfs_agent_memory_pool_bytes')
    t.equal(pool, 256 * MiB - 301 * 256 * KiB, 'the pool: --memory less 301 reserves of 256 KiB')
    await waitFor('every loan given back', async () =>
      await metric(agentUrl, 'logfs_agent_memory_pool_free_bytes') === pool || undefined)
    t.equal(await metric(agentUrl, 'logfs_agent_ring_borrowed_bytes', { tenant: 'flood' }), 0)
  })

t.test('two tenants flooding a server that is away stop at the budget; a quiet tenant writes on in its reserve',
  async t => {
    const port = await freePort()
    const agent = await startAgent(t, `ws://127.0.0.1:${port}`,
      ['--memory', '4MiB', '--ring-size', '4MiB', '--metrics-listen', '127.0.0.1:0', '--ack-timeout', '2s'])
    const mounted = agent.events.find(e => e.event === 'mounted') as { metrics: { port: number } }
    const agentUrl = `http://127.0.0.1:${mounted.metrics.port}`
    // Every tenant's ring (and reserve) exists before the floods borrow: a file's creation makes it.
    await append(['a', 'b', 'quiet'].map(d => [path.join(agent.mnt, d, 'app.log'), '']))
    const floods = ['a', 'b'].map(d => writer({ file: path.join(agent.mnt, d, 'app.log'), lines: 8192, size: 1024,
      prefix: d.toUpperCase() }))
    const waiting = (tenant: string): Promise<number> => metric(agentUrl, 'logfs_agent_writes_waiting', { tenant })
    await waitFor('both floods waiting', async () => (await waiting('a')) > 0 && (await waiting('b')) > 0)
    const held = (tenant: string): Promise<number> => metric(agentUrl, 'logfs_agent_ring_held_bytes', { tenant })
    const a = await held('a')
    const b = await held('b')
    t.ok(a <= 4 * MiB && b <= 4 * MiB, `each holds at most its ring (${a}, ${b})`)
    t.ok(a + b <= 4 * MiB - 256 * KiB, `together at most the budget less the quiet tenant's reserve (${a + b})`)
    t.ok(await metric(agentUrl, 'logfs_agent_memory_pool_free_bytes') < 4 * KiB, 'the pool is spent')

    const quiet = await Promise.all(manyWriters({ files: [path.join(agent.mnt, 'quiet/app.log')], prefixes: ['Q'] },
      1, 200, 5, 200))
    t.same(quiet, [{ lines: 200, error: null }], 'the quiet tenant wrote 40 KB while the others wait')
    t.equal(await metric(agentUrl, 'logfs_agent_writes_blocked_total', { tenant: 'quiet' }), 0, 'without waiting once')

    // The server comes: the floods drain and everything is stored once.
    const server = await startServer(t, { port })
    for (const f of await Promise.all(floods.map(f => f.done))) t.equal(f.error, null, 'a flood wrote every line')
    const want = new Map([['testnode/a/app.log', 8192 * 1024], ['testnode/b/app.log', 8192 * 1024],
      ['testnode/quiet/app.log', 200 * 200]])
    await allArrived(server, want, 60_000)
    t.equal((await readSource(server, 'testnode/a/app.log')).toString(), expected('A', 8192, 1024))
    t.equal((await readSource(server, 'testnode/b/app.log')).toString(), expected('B', 8192, 1024))
    t.equal((await readSource(server, 'testnode/quiet/app.log')).toString(), expected('Q', 200, 200))
  })

t.test('a takeover with 120 tenants writing: no writer error, every line stored once', async t => {
  const server = await startServer(t)
  const agent = await startAgent(t, server, [], undefined, { supervised: true })
  const set = tenants(agent.mnt, 120)
  const rounds = 80
  const size = 100
  const writing = manyWriters(set, 2, rounds, 100, size)
  await sleep(2500)
  const first = agent.events.find(e => e.event === 'mounted')!.pid as number
  process.kill(first, 'SIGKILL')
  await waitFor('the next agent', () => agent.events.filter(e => e.event === 'mounted').length > 1 || undefined, 20000)
  for (const r of await Promise.all(writing)) t.same(r, { lines: 60 * rounds, error: null }, 'a writer saw no error')
  t.match(agent.stderr, /took over/, 'the new agent took the mount over')
  await allArrived(server, new Map(set.prefixes.map(p => [`testnode/${p}/app.log`, rounds * size])), 60_000)
  await checkTenants(t, server, set.prefixes, rounds, size)
})
