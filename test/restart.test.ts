// A FUSE agent killed under a writer: the supervisor brings the mount back at the same place, with its
// directories, and writes after recovery arrive. What the application sees meanwhile is documented in the README.
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { line } from './fixtures/lines'
import { cli, readSource, sleep, sources, startAgent, startServer, waitFor, writer } from './helpers/cluster'

t.test('SIGKILL of the agent under a writer: supervised recovery, skeleton restored, later writes arrive', async t => {
  const server = await startServer(t)
  const agent = await startAgent(t, server, [], undefined, { supervised: true })
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
  const agent = await startAgent(t, server, [], undefined,
    { supervised: true, env: { LOGFS_GEN_FLOOR: String(ahead) } })
  const first = agent.events.find(e => e.event === 'mounted')!
  t.equal(first.gen, ahead + 1, 'the first agent starts above the floor it was given')
  process.kill(first.pid as number, 'SIGKILL')
  const again = await waitFor('a new agent', () => agent.events.filter(e => e.event === 'mounted')[1], 20000)
  t.equal(again.gen, ahead + 2, 'the supervisor hands the last generation down, not the clock')
  t.equal((await agent.stop()).ok, true)
})
