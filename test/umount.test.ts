// Stopping an agent on purpose: `logfs umount` reports what was left unshipped instead of losing it silently,
// and a deliberate stop is never taken for a crash by the supervisor.
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { spawn } from 'node:child_process'
import { readPid } from '../lib/agent/state-dir'
import {
  LOGFS, TOKEN, append, arrived, cli, forceUnmount, mounted, run, sleep, startAgent, startServer, tempDir, waitFor,
  type Agent,
} from './helpers/cluster'

const stateDirOf = (agent: Agent): string => agent.proc.spawnargs[agent.proc.spawnargs.indexOf('--state-dir') + 1]
const mounts = (agent: Agent): number => agent.events.filter(e => e.event === 'mounted').length
const unshipped = (stderr: string): number => Number(/with (\d+) bytes not shipped/.exec(stderr)?.[1])
const pidFile = (agent: Agent): string => path.join(stateDirOf(agent), encodeURIComponent(agent.mnt) + '.pid')

/** The exit code, or 'running' when the process is still there after `ms` (a supervisor that restarted). */
async function exitWithin (agent: Agent, ms: number): Promise<number | null | 'running'> {
  return Promise.race([agent.exited, sleep(ms).then(() => 'running' as const)])
}

/** An agent shipping to a server that is then killed, with 14 bytes written that cannot be shipped. */
async function stranded (t: Parameters<typeof startServer>[0], args: string[], supervised: boolean): Promise<Agent> {
  const server = await startServer(t)
  const agent = await startAgent(t, server, args, undefined, { supervised })
  server.proc.kill('SIGKILL')
  await server.exited
  fs.mkdirSync(path.join(agent.mnt, 'x'))
  fs.writeFileSync(path.join(agent.mnt, 'x/a.log'), 'one\ntwo\nthree\n')
  return agent
}

t.test('umount of a supervised agent, server unreachable: exit 1 with the unshipped bytes, no restart', async t => {
  const agent = await stranded(t, ['--drain-timeout', '1s'], true)
  const um = await cli(['umount', agent.mnt, '--state-dir', stateDirOf(agent)])
  t.equal(um.code, 1, 'umount fails')
  t.match(um.stderr, /^logfs: agent stopped with \d+ bytes not shipped \(server unreachable: .+\)\n$/)
  t.ok(unshipped(um.stderr) >= 14, 'the count covers what was written (and its framing in the ring)')
  t.equal(await exitWithin(agent, 10000), 1, 'the supervisor ends with the agent\'s code')
  await sleep(1500)
  t.equal(mounts(agent), 1, 'the agent was not started again')
  t.notOk(mounted(agent.mnt), 'nothing left mounted')
  t.notOk(fs.existsSync(pidFile(agent)), 'no pid file left behind')
})

t.test('umount of a supervised agent, server up: exit 0, everything stored, --json prints the outcome', async t => {
  const server = await startServer(t)
  const agent = await startAgent(t, server, [], undefined, { supervised: true })
  t.equal(Number(fs.readFileSync(pidFile(agent), 'utf8')), agent.proc.pid, 'the pid file names the supervisor')
  fs.mkdirSync(path.join(agent.mnt, 'x'))
  fs.writeFileSync(path.join(agent.mnt, 'x/a.log'), 'bye\n')
  const um = await cli(['umount', agent.mnt, '--state-dir', stateDirOf(agent), '--json'])
  t.equal(um.code, 0, um.stderr)
  const agentPid = agent.events.find(e => e.event === 'mounted')!.pid
  t.match(JSON.parse(um.stdout), { version: 1, ok: true, pendingBytes: 0, pid: agentPid, time: String })
  t.equal(await exitWithin(agent, 10000), 0)
  t.notOk(mounted(agent.mnt))
  t.notOk(fs.existsSync(pidFile(agent)), 'no pid file left behind')
  const read = await cli(['cat', 'testnode/x/a.log', '--server', server.http])
  t.equal(read.stdout, 'bye\n')
})

t.test('umount while the parent of logfs mount has not reaped it (a zombie): exit 0 from the outcome', async t => {
  const server = await startServer(t)
  const mnt = tempDir(t, 'mnt')
  const stateDir = tempDir(t, 'state')
  // A parent that never waits for its child, as a Python program that keeps its Popen and goes on.
  const parent = spawn('python3', ['-c', 'import subprocess, sys, time; p = subprocess.Popen(sys.argv[1:]); '
    + 'time.sleep(600)', LOGFS, 'mount', mnt, '--server', server.ws, '--node', 'testnode', '--state-dir', stateDir],
  { stdio: 'ignore', env: { ...process.env, LOGFS_TOKEN: TOKEN } })
  t.teardown(() => { parent.kill('SIGKILL'); forceUnmount(mnt) })
  const pid = await waitFor('the mount and its pid file', () => mounted(mnt) && readPid(path.join(stateDir,
    encodeURIComponent(mnt) + '.pid')))
  fs.mkdirSync(path.join(mnt, 'x'))
  await append([[path.join(mnt, 'x/a.log'), 'one\ntwo\n']])
  await arrived(server, 'testnode/x/a.log', 8)
  const um = await cli(['umount', mnt, '--state-dir', stateDir, '--timeout', '10s', '--json'])
  t.equal(um.code, 0, `umount exits 0 (${um.stderr.trim()})`)
  t.match(JSON.parse(um.stdout), { ok: true, pendingBytes: 0 })
  t.equal(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0], 'Z',
    'the stopped logfs mount is still a zombie of its parent')
  t.notOk(mounted(mnt), 'nothing left mounted')
})

t.test('SIGTERM straight to a supervised agent is a deliberate stop: the supervisor ends with it', async t => {
  const agent = await stranded(t, ['--drain-timeout', '1s'], true)
  process.kill(agent.events.find(e => e.event === 'mounted')!.pid as number, 'SIGTERM')
  t.equal(await exitWithin(agent, 10000), 1, 'the supervisor ends with the agent\'s code')
  await sleep(1500)
  t.equal(mounts(agent), 1, 'the agent was not started again')
  t.notOk(mounted(agent.mnt))
  t.match(agent.stderr, /supervisor: agent stopped deliberately/)
  const record = path.join(stateDirOf(agent), encodeURIComponent(agent.mnt) + '.stopped.json')
  t.match(JSON.parse(fs.readFileSync(record, 'utf8')), { version: 1, ok: false }, 'the stop left its outcome')
  t.notOk(fs.existsSync(pidFile(agent)), 'no pid file left behind')
})

t.test('umount of an unsupervised agent, server unreachable: exit 1 with the count', async t => {
  const agent = await stranded(t, ['--drain-timeout', '1s'], false)
  t.equal(Number(fs.readFileSync(pidFile(agent), 'utf8')), agent.proc.pid, 'the pid file names the agent')
  const um = await cli(['umount', agent.mnt, '--state-dir', stateDirOf(agent), '--json'])
  t.equal(um.code, 1)
  t.match(um.stderr, /agent stopped with \d+ bytes not shipped \(server unreachable: /)
  t.ok(unshipped(um.stderr) >= 14)
  const outcome = { version: 1, ok: false, pendingBytes: unshipped(um.stderr), lastError: String, pid: agent.proc.pid }
  t.match(JSON.parse(um.stdout), outcome, '--json prints the outcome record')
  t.equal(await agent.exited, 1)
  t.notOk(fs.existsSync(pidFile(agent)))
})

t.test('umount --timeout, then an agent that ends without finishing its stop: exit 1 both times', async t => {
  const agent = await stranded(t, ['--drain-timeout', '60s'], false)
  const stateDir = stateDirOf(agent)
  const slow = await cli(['umount', agent.mnt, '--state-dir', stateDir, '--timeout', '1s'])
  t.equal(slow.code, 1)
  t.match(slow.stderr, /did not stop within 1s; it may still be draining/)
  // A second signal ends the agent at once: it never gets to say what it shipped, and the stale record of an
  // earlier stop must not be taken for this one's.
  await sleep(1100)
  fs.writeFileSync(path.join(stateDir, encodeURIComponent(agent.mnt) + '.stopped.json'), '{"version":1,"ok":true}')
  const forced = run(['umount', agent.mnt, '--state-dir', stateDir])
  t.equal(await forced.exited, 1)
  t.match(forced.stderr, /ended without reporting what it shipped/)
  await waitFor('the agent to end', () => agent.proc.exitCode !== null)
})

t.test('a supervisor killed outright: its agent takes over the pid file, and umount still stops it', async t => {
  const server = await startServer(t)
  const agent = await startAgent(t, server, [], undefined, { supervised: true })
  const agentPid = agent.events.find(e => e.event === 'mounted')!.pid as number
  agent.proc.kill('SIGKILL')
  await waitFor('the agent to name itself', () => Number(fs.readFileSync(pidFile(agent), 'utf8')) === agentPid)
  fs.writeFileSync(path.join(agent.mnt, 'late.log'), 'still here\n')
  const um = await cli(['umount', agent.mnt, '--state-dir', stateDirOf(agent)])
  t.equal(um.code, 0, um.stderr)
  t.notOk(mounted(agent.mnt))
  t.equal((await cli(['cat', 'testnode/late.log', '--server', server.http])).stdout, 'still here\n')
})
