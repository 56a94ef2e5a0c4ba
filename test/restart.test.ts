// Agent restarts. Under the supervisor a new agent takes the mount over: writers that never reopen
// their files see no error and nothing is lost or stored twice, across SIGKILLs and an upgrade (SIGHUP). When the
// handover cannot be made, or with --no-handover, the mount comes back as a new one: the supervisor mounts again
// at the same place, with its directories, and writes after recovery arrive.
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { line } from './fixtures/lines'
import {
  TOKEN, checkExactlyOnce, cli, event, readSource, run, sleep, sources, startAgent, startServer, waitFor, writer,
} from './helpers/cluster'
import { runSteady, steadyLine } from '../bench/steadywriter'

t.test('writers that never reopen keep writing across agent SIGKILLs and an upgrade: no error, no loss, no duplicate',
  async t => {
    const server = await startServer(t)
    const agent = await startAgent(t, server, [], undefined, { supervised: true })
    const dir = path.join(agent.mnt, 'prod/app')
    fs.mkdirSync(dir, { recursive: true })
    const lines = 5000
    const writers = [1, 2].map(w => runSteady(path.join(dir, `${w === 1 ? 'a' : 'b'}.log`), lines, 500, w))
    const mounted = (): Array<Record<string, unknown>> => agent.events.filter(e => e.event === 'mounted')
    const next = async (what: string, act: () => void): Promise<void> => {
      const before = mounted().length
      act()
      await waitFor(what, () => mounted().length > before || undefined, 20000)
    }
    await sleep(1200)
    await next('an agent after the first SIGKILL', () => process.kill(mounted()[0].pid as number, 'SIGKILL'))
    await sleep(1200)
    // The upgrade: SIGHUP to the supervisor (the pid `logfs mount` had); a new agent from the program on disk.
    await next('an agent after the upgrade', () => agent.proc.kill('SIGHUP'))
    await sleep(1200)
    await next('an agent after the second SIGKILL', () => process.kill(mounted()[2].pid as number, 'SIGKILL'))
    const results = await Promise.all(writers)
    for (const r of results) {
      t.equal(r.failed, 0, `the application saw no write error (first: ${r.firstError})`)
      t.comment(`write() p99 ${r.p99ms.toFixed(1)} ms, longest ${r.maxMs.toFixed(0)} ms, ${r.stalls} over 100 ms`)
    }
    t.same(new Set(mounted().map(e => e.gen)).size, 1, 'every agent went on with the same cursor generation')
    t.match(agent.stderr, /took over .* open files kept working/, 'each new agent says it took over')
    const stopped = await agent.stop()
    t.equal(stopped.ok, true, 'the last agent drained and stopped')
    t.match(stopped.handover, { mode: 'takeover', takeovers: 3, renewals: 0 })
    t.equal(await agent.exited, 0)
    await checkExactlyOnce(t, server, 'testnode/prod/app/a.log', 1, lines)
    await checkExactlyOnce(t, server, 'testnode/prod/app/b.log', 2, lines)
  })

t.test('writeback mode: dirty pages outlive a SIGKILL of the agent and reach the next one', async t => {
  const server = await startServer(t)
  const agent = await startAgent(t, server, ['--cache', 'writeback'], undefined, { supervised: true })
  fs.mkdirSync(path.join(agent.mnt, 'prod'))
  const lines = 4000
  const w = runSteady(path.join(agent.mnt, 'prod/wb.log'), lines, 1000, 4)
  await sleep(1500)
  process.kill(agent.events.find(e => e.event === 'mounted')!.pid as number, 'SIGKILL')
  await waitFor('a new agent', () => agent.events.filter(e => e.event === 'mounted')[1], 20000)
  const r = await w
  t.equal(r.failed, 0, `the application saw no write error (first: ${r.firstError})`)
  t.equal((await agent.stop()).ok, true)
  await checkExactlyOnce(t, server, 'testnode/prod/wb.log', 4, lines)
})

t.test('writeback mode: upgrades while the flusher syncs hand the mount over every time, nothing lost', async t => {
  const server = await startServer(t)
  // A short flush interval keeps the flusher inside syncfs() most of the time, where a handover used to find it.
  const agent = await startAgent(t, server, ['--cache', 'writeback', '--flush-interval', '2ms'], undefined,
    { supervised: true })
  fs.mkdirSync(path.join(agent.mnt, 'prod'))
  const lines = 6000
  const w = runSteady(path.join(agent.mnt, 'prod/up.log'), lines, 1000, 5)
  for (let i = 1; i <= 4; i++) {
    await sleep(800)
    agent.proc.kill('SIGHUP')
    await waitFor(`the agent after upgrade ${i}`, () => agent.events.filter(e => e.event === 'mounted')[i], 20000)
  }
  const r = await w
  t.equal(r.failed, 0, `the application saw no write error (first: ${r.firstError})`)
  const stopped = await agent.stop()
  t.equal(stopped.ok, true)
  t.match(stopped.handover, { mode: 'takeover', takeovers: 4 })
  await checkExactlyOnce(t, server, 'testnode/prod/up.log', 5, lines)
})

t.test('after a takeover a file reads back as before: size, tail bytes, directory entries', async t => {
  const server = await startServer(t)
  const agent = await startAgent(t, server, [], undefined, { supervised: true })
  fs.mkdirSync(path.join(agent.mnt, 'prod/sub'), { recursive: true })
  const file = path.join(agent.mnt, 'prod/sub/r.log')
  let text = ''
  for (let n = 0; n < 50; n++) text += steadyLine(6, n)
  fs.writeFileSync(file, text)
  fs.renameSync(file, file + '.1')
  fs.writeFileSync(file, 'after rotation\n')
  process.kill(agent.events.find(e => e.event === 'mounted')!.pid as number, 'SIGKILL')
  await waitFor('a new agent', () => agent.events.filter(e => e.event === 'mounted')[1], 20000)
  t.same(fs.readdirSync(path.join(agent.mnt, 'prod/sub')).sort(), ['r.log', 'r.log.1'])
  t.equal(fs.readFileSync(file + '.1', 'utf8'), text, 'the rotated file\'s bytes, from the memfd')
  t.equal(fs.readFileSync(file, 'utf8'), 'after rotation\n')
  fs.appendFileSync(file, 'and after the takeover\n')
  t.equal(fs.statSync(file).size, 38, 'appends go on at the end')
  t.equal((await agent.stop()).ok, true)
  t.equal((await readSource(server, 'testnode/prod/sub/r.log')).toString(),
    text + 'after rotation\nand after the takeover\n', 'one source across the rotation and the takeover')
})

t.test('a stop asked between a crash and the next agent: one more agent ships what the dead one left', async t => {
  const server = await startServer(t)
  const agent = await startAgent(t, server, [], undefined, { supervised: true })
  fs.mkdirSync(path.join(agent.mnt, 'prod'))
  // The server answers nothing meanwhile, so the killed agent dies with unacknowledged bytes in the state.
  server.proc.kill('SIGSTOP')
  t.teardown(() => { server.proc.kill('SIGCONT') })
  let text = ''
  for (let n = 0; n < 200; n++) text += steadyLine(5, n)
  fs.writeFileSync(path.join(agent.mnt, 'prod/left.log'), text)
  process.kill(agent.events.find(e => e.event === 'mounted')!.pid as number, 'SIGKILL')
  agent.proc.kill('SIGTERM')
  await sleep(300)
  server.proc.kill('SIGCONT')
  t.equal(await agent.exited, 0, 'the stop ended well: everything was shipped')
  t.match(agent.stderr, /starting one to ship what it left|the stop goes to it/)
  t.notOk(fs.readFileSync('/proc/mounts', 'utf8').includes(agent.mnt), 'and the mount is gone')
  t.equal((await readSource(server, 'testnode/prod/left.log')).toString(), text, 'every line arrived, once')
})

t.test('logfs mount --upgrade: a new supervisor takes the mount over from the running one (a rolling update)',
  async t => {
    const server = await startServer(t)
    const old = await startAgent(t, server, [], undefined, { supervised: true })
    const stateDir = old.proc.spawnargs[old.proc.spawnargs.indexOf('--state-dir') + 1]
    fs.mkdirSync(path.join(old.mnt, 'prod'))
    const lines = 3000
    const w = runSteady(path.join(old.mnt, 'prod/u.log'), lines, 500, 3)
    await sleep(1500)
    // The new pod of a DaemonSet with maxSurge: the same command with --upgrade, the state directory shared.
    const next = run(['mount', old.mnt, '--server', server.ws, '--json', '--node', 'testnode', '--state-dir', stateDir,
      '--upgrade'], { env: { ...process.env, LOGFS_TOKEN: TOKEN } })
    t.teardown(async () => {
      if (next.proc.exitCode === null) next.proc.kill('SIGKILL')
      for (const e of next.events) if (e.event === 'mounted') try { process.kill(e.pid as number, 'SIGKILL') } catch {}
    })
    await event(next, 'mounted')
    await waitFor('the old supervisor\'s handoff', () => old.events.find(e => e.event === 'handedOver'), 20000)
    // The old pod is deleted once the new one is ready: its SIGTERM must leave the mount alone.
    old.proc.kill('SIGTERM')
    t.equal(await old.exited, 0, 'the old supervisor, holding nothing now, ends when stopped')
    t.ok(fs.readFileSync('/proc/mounts', 'utf8').includes(old.mnt), 'the mount is still there')
    const r = await w
    t.equal(r.failed, 0, `the application saw no write error (first: ${r.firstError})`)
    t.comment(`write() longest ${r.maxMs.toFixed(0)} ms during the upgrade`)
    next.proc.kill('SIGTERM')
    t.equal(await next.exited, 0, 'the new supervisor stops its agent as usual')
    t.match(next.events.find(e => e.event === 'stopped'), { ok: true, handover: { mode: 'takeover' } })
    await checkExactlyOnce(t, server, 'testnode/prod/u.log', 3, lines)
  })

t.test('a memfd the new agent cannot read: it falls back to a new mount and says so', async t => {
  const server = await startServer(t)
  const agent = await startAgent(t, server, [], undefined, { supervised: true })
  fs.mkdirSync(path.join(agent.mnt, 'prod'))
  const lines = 1500
  const w = writer({ file: path.join(agent.mnt, 'prod/r.log'), lines, size: 100, prefix: 'fb', delayMs: 2,
    reopenOnError: true })
  await sleep(600)
  // What an upgrade to a build with another memfd format finds: a version it does not know (state.h, offset 8),
  // written through the agent's descriptor of the memfd (LOGFS_STATE_FD, 5).
  const first = agent.events.find(e => e.event === 'mounted')!.pid as number
  const memfd = fs.openSync(`/proc/${first}/fd/5`, 'r+')
  fs.writeSync(memfd, Buffer.from([0xe7, 0x03, 0, 0]), 0, 4, 8)
  fs.closeSync(memfd)
  process.kill(first, 'SIGKILL')
  await waitFor('a new mount', () => agent.events.filter(e => e.event === 'mounted')[1], 20000)
  t.match(agent.stderr, /state version 999, this build reads version \d+/, 'the agent says why')
  t.match(agent.stderr, /the handover failed; the next agent mounts again/, 'the supervisor says what it does')
  const r = await w.done
  t.ok((r.outages ?? []).length >= 1, 'open files broke, as on any restart before handovers')
  t.equal(r.lines, lines, 'a writer that reopens its file recovered')
  const stopped = await agent.stop()
  t.match(stopped.handover, { mode: 'fresh', renewals: 1 },
    'the fallback is counted (logfs_agent_handover_fallbacks_total)')
})

t.test('--no-handover: a SIGKILL ends the mount; the supervisor mounts again, skeleton restored, later writes arrive',
  async t => {

  const server = await startServer(t)
  const agent = await startAgent(t, server, ['--no-handover'], undefined, { supervised: true })
  const dir = path.join(agent.mnt, 'prod/app')
  fs.mkdirSync(dir, { recursive: true })
  fs.chownSync(dir, 65534, 65534)
  await sleep(300) // the skeleton is saved 100 ms after a change
  const lines = 1500
  const w = writer({ file: path.join(dir, 'app.log'), lines, size: 100, prefix: 'rs', delayMs: 2, reopenOnError: true },
    { uid: 65534, gid: 65534 })
  await sleep(800)
  const firstPid = agent.events.find(e => e.event === 'mounted')!.pid as number
  const killed = Date.now()
  process.kill(firstPid, 'SIGKILL')
  const again = await waitFor('a new agent', () => agent.events.filter(e => e.event === 'mounted')[1], 20000)
  const recoveryMs = Date.now() - killed
  t.not(again.pid, firstPid, 'a new agent process serves the mount')
  t.comment(`mount back ${recoveryMs} ms after the agent was killed`)
  t.ok(recoveryMs < 15000, 'recovery within seconds')
  t.equal(fs.statSync(dir).uid, 65534, 'the directory skeleton (with its owner) came back')

  const r = await w.done
  t.equal(r.lines, lines, 'the writer, reopening its file after the error, finished')
  t.ok((r.outages ?? []).length >= 1, `the writer saw the outage: ${JSON.stringify(r.outages)}`)
  t.match(r.outages![0].error, /ENOTCONN|ECONNABORTED|EIO|ENOENT|EBADF/, 'as an error, not a hang')
  t.comment(`the application could not write for ${r.outages![0].ms} ms`)

  const stopped = await agent.stop()
  t.equal(stopped.ok, true, 'the new agent drained and stopped; the supervisor exits with it')
  t.equal(await agent.exited, 0)
  const got = (await readSource(server, 'testnode/prod/app/app.log')).toString().split('\n').filter(Boolean)
  const seq = got.map(l => Number(l.split(' ')[1]))
  t.ok(seq.every((n, i) => i === 0 || n > seq[i - 1]), 'what arrived is in order and has no duplicates')
  const lost = lines - new Set(seq).size
  t.comment(`${lost} of ${lines} lines were lost: the ones the killed agent held in memory, unacknowledged`)
  const afterKill = seq.findIndex((n, i) => i > 0 && n !== seq[i - 1] + 1)
  const resumed = afterKill < 0 ? 0 : seq[afterKill]
  for (let n = resumed; n < lines; n++) {
    if (!seq.includes(n)) { t.fail(`line ${n}, written after recovery, is missing`); break }
  }
  t.equal(got[got.length - 1], line('rs', lines - 1, 100).trimEnd(), 'the last line arrived')
  const src = (await sources(server)).find(s => s.source === 'testnode/prod/app/app.log')!
  t.ok(src.next !== null, 'one source across both agent generations')
})

t.test('a supervised agent that cannot start is not restarted in a loop', async t => {
  const r = await cli(['mount', '/nonexistent/logfs-mnt', '--server', 'ws://127.0.0.1:1'])
  t.equal(r.code, 1, 'the supervisor ends with the agent\'s failure')
  t.match(r.stderr, /mount point .* does not exist/)
  t.notMatch(r.stderr, /starting a new one/)
})

t.test('a second logfs mount at a live mount is refused, and the first keeps serving',
  async t => {
    const server = await startServer(t)
    const agent = await startAgent(t, server)
    fs.statSync(agent.mnt)
    const r = await cli(['mount', agent.mnt, '--server', server.ws, '--no-supervise'])
    t.equal(r.code, 1)
    t.match(r.stderr, /already mounted by a running filesystem/)
    fs.writeFileSync(path.join(agent.mnt, 'still.log'), 'served\n')
    t.equal(fs.readFileSync(path.join(agent.mnt, 'still.log'), 'utf8'), 'served\n', 'the first mount is untouched')
  })

t.test('logfs umount stops a supervised agent for good', async t => {
  const server = await startServer(t)
  const agent = await startAgent(t, server, [], undefined, { supervised: true })
  fs.mkdirSync(path.join(agent.mnt, 'x'))
  fs.writeFileSync(path.join(agent.mnt, 'x/a.log'), 'bye\n')
  const stateDir = agent.proc.spawnargs[agent.proc.spawnargs.indexOf('--state-dir') + 1]
  const um = await cli(['umount', agent.mnt, '--state-dir', stateDir])
  t.equal(um.code, 0)
  t.equal(await agent.exited, 0, 'the supervisor ends with its agent instead of restarting it')
  t.notOk(fs.readFileSync('/proc/mounts', 'utf8').includes(agent.mnt))
  t.equal((await readSource(server, 'testnode/x/a.log')).toString(), 'bye\n')
})

t.test('a restarted agent takes a generation above its predecessor\'s even when the clock went back', async t => {
  const server = await startServer(t)
  // A predecessor whose clock ran a day ahead: what a clock stepped back by NTP looks like to the next agent.
  const ahead = Date.now() + 86_400_000
  const agent = await startAgent(t, server, ['--no-handover'], undefined,
    { supervised: true, env: { LOGFS_GEN_FLOOR: String(ahead) } })
  const first = agent.events.find(e => e.event === 'mounted')!
  t.equal(first.gen, ahead + 1, 'the first agent starts above the floor it was given')
  process.kill(first.pid as number, 'SIGKILL')
  const again = await waitFor('a new agent', () => agent.events.filter(e => e.event === 'mounted')[1], 20000)
  t.equal(again.gen, ahead + 2, 'the supervisor hands the last generation down, not the clock')
  t.equal((await agent.stop()).ok, true)
})
