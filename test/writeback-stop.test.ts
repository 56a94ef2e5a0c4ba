// Writeback cache mode (`logfs mount --cache writeback`): the kernel's page cache takes write()s and a flusher
// syncs the mount every --flush-interval. The kernel sends the partial last page again at each flush and pages
// do not come in file order, yet every byte must reach the server once, in file order, within a bound.
// This file: stopping the agent (SIGTERM, logfs umount) right after a burst and under a writer that keeps writing.
import t, { type Test } from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { expected } from './fixtures/lines'
import {
  ROOT, cli, readSource, sleep, sources, startAgent, startServer, waitFor, writer, type Server,
} from './helpers/cluster'
import { WB, WB_IDLE, bytesOf, chunkWriter, oddLines } from './helpers/writeback'

// The busy writer: 200-byte lines through one descriptor, five at a time then a pause of argv[2] ms, until a
// write fails. Prints a line with the time after each batch of five, then one with the write's error and close()'s.
const BUSY_WRITER = `
const fs = require('fs')
const { line } = require(${JSON.stringify(path.join(ROOT, 'dist/test/fixtures/lines.js'))})
const pause = +process.argv[2]
const fd = fs.openSync(process.argv[1], 'a')
let n = 0
const batch = () => {
  try {
    for (let k = 0; k < 5; k++) { fs.writeSync(fd, line('busy', n, 200)); n++ }
  } catch (e) {
    let closeErr = null
    try { fs.closeSync(fd) } catch (e2) { closeErr = e2.code }
    process.stdout.write('end ' + e.code + ' ' + closeErr + '\\n')
    return
  }
  process.stdout.write('batch ' + Date.now() + '\\n')
  setTimeout(batch, pause)
}
batch()
`

interface Busy {
  proc: ChildProcess
  exited: Promise<number | null>
  /** Times (ms) at which each batch of five lines had been written. */
  batches: () => number[]
  /** The writer's last line: the errno names of the failed write and of close(), once it ended. */
  end: () => string[] | undefined
}

function busyWriter (t: Test, file: string, pauseMs: number): Busy {
  const proc = spawn(process.execPath, ['-e', BUSY_WRITER, file, String(pauseMs)],
    { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { if (proc.exitCode === null) proc.kill('SIGKILL') })
  let out = ''
  proc.stdout?.on('data', (c: Buffer) => { out += c.toString() })
  const exited = new Promise<number | null>(resolve => proc.once('exit', resolve))
  const lines = (): string[] => out.split('\n')
  return {
    proc,
    exited,
    batches: () => lines().filter(l => l.startsWith('batch ')).map(l => Number(l.slice(6))),
    end: () => lines().find(l => l.startsWith('end '))?.split(' ').slice(1),
  }
}

/**
 * What a stop under a busy writer must leave: the writer ended (told the disk went away), and the stored stream
 * is the writer's first lines, whole, with no hole, holding every line written before the stop was asked for.
 */
async function checkStoppedWriter (t: Test, server: Server, busy: Busy, source: string, signalled: number,
  conn: string): Promise<void> {
  const ended = await Promise.race([busy.exited.then(() => true), sleep(10000).then(() => false)])
  if (!ended) t.comment(`the writer runs 10 s after the stop; threads in D state: ${stuckThreads(busy.proc.pid!)}`)
  t.ok(ended, 'the writer ended')
  if (!ended) {
    // A writer waiting on a request nobody will answer cannot even be killed until the connection ends.
    abortConnection(conn)
    busy.proc.kill('SIGKILL')
    await busy.exited
  }
  const batches = busy.batches()
  const end = busy.end()
  t.ok(end, `the writer was told the disk went away (write: ${end?.[0]}, close: ${end?.[1]})`)
  const before = 5 * batches.filter(at => at < signalled).length
  const got = (await readSource(server, source)).toString()
  t.ok(before > 100, `${before} lines were written before the stop, ${5 * batches.length} in all`)
  t.ok(got.slice(0, before * 200) === expected('busy', before, 200),
    'every line written before the stop was stored, once, in order')
  t.comment(`stored ${got.length} bytes (${got.length / 200} lines); ${firstDivergence(got, batches, signalled)}`)
  t.ok(got.length % 200 === 0 && got === expected('busy', got.length / 200, 200),
    'the stored stream is the writer\'s first lines, whole, with no hole')
  const row = (await sources(server)).find(s => s.source === source)
  t.equal(row?.gapBytes, 0, 'and the server records no gap')
}

/** Waits for a stop; should it hang, shows the threads in D state and aborts the connection so nothing stays hung. */
async function finishes<V> (t: Test, stopping: Promise<V>, what: string, pid: number, conn: string):
  Promise<boolean> {
  const done = await Promise.race([stopping.then(() => true), sleep(25000).then(() => false)])
  t.ok(done, what)
  if (!done) {
    t.comment(`it hung; threads in D state: ${stuckThreads(pid)}`)
    t.ok(abortConnection(conn), 'the hung FUSE connection was aborted')
  }
  return done
}

/** Where the busy writer's stored stream first differs from what it wrote, and when that line was written. */
function firstDivergence (got: string, batches: number[], signalled: number): string {
  const want = expected('busy', Math.ceil(got.length / 200) + 1, 200)
  let i = 0
  while (i < got.length && got[i] === want[i]) i++
  if (i === got.length) return 'no divergence'
  const n = Math.floor(i / 200)
  const resumes = /busy (\d{8})/.exec(got.slice(i))?.[1]
  return `first difference in line ${n}, written ${batches[Math.floor(n / 5)] - signalled} ms after the SIGTERM; `
    + `the stream resumes at line ${Number(resumes)}`
}

/** The kernel stacks of a process's threads in uninterruptible sleep, for the log of a hung stop. */
function stuckThreads (pid: number): string {
  const out: string[] = []
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      if (fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(' ')[2] !== 'D') continue
      const frames = fs.readFileSync(`/proc/${pid}/task/${tid}/stack`, 'utf8').trim().split('\n')
      out.push(frames.slice(0, 4).map(l => l.replace(/^\[<0>\] /, '').replace(/\+.*/, '')).join(' <- '))
    } catch {}
  }
  return out.join('; ') || 'none'
}

/** The FUSE connection of the mount at `mnt` (its fusectl name); read while mounted: a stop detaches the mount. */
function connectionOf (mnt: string): string {
  const fields = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map(l => l.split(' '))
    .filter(f => f[4] === mnt).pop()
  if (!fields) throw new Error(`${mnt} is not mounted`)
  return fields[2].split(':')[1]
}

/** Aborts a FUSE connection (fusectl): its waiting requests fail, and whoever waited on them can end. */
function abortConnection (conn: string): boolean {
  if (fs.readdirSync('/sys/fs/fuse/connections').length === 0) {
    execFileSync('mount', ['-t', 'fusectl', 'none', '/sys/fs/fuse/connections'])
  }
  try {
    fs.writeFileSync(`/sys/fs/fuse/connections/${conn}/abort`, '1')
    return true
  } catch {
    return false
  }
}

t.test('SIGTERM right after a burst: what was written, in closed files and still-open ones, is shipped', async t => {
  const server = await startServer(t)
  const agent = await startAgent(t, server, WB_IDLE)
  fs.mkdirSync(path.join(agent.mnt, 'stop'))
  const lines = 8000
  const closed = await writer({ file: path.join(agent.mnt, 'stop/closed.log'), lines, size: 200, prefix: 'cl' }).done
  t.same(closed, { lines, bytes: lines * 200, error: null })
  const open = oddLines('op', 1500, 6)
  const held = chunkWriter(t, path.join(agent.mnt, 'stop/open.log'), open, { hold: true })
  await held.written
  const openText = open.join('')
  t.comment(`before the stop the server had ${await bytesOf(server, 'testnode/stop/open.log')} of `
    + `${openText.length} bytes of the still-open file`)
  const report = await agent.stop()
  t.equal(await agent.exited, 0, 'the agent exits 0')
  t.match(report, { ok: true, pendingBytes: 0 }, 'and reports nothing unshipped')
  t.ok((await readSource(server, 'testnode/stop/closed.log')).toString() === expected('cl', lines, 200),
    'the closed file: every line once, in order')
  const gotOpen = (await readSource(server, 'testnode/stop/open.log')).toString()
  t.ok(gotOpen === openText, `the file still open: every line once, in order (${gotOpen.length} of ${openText.length})`)
})

t.test('logfs umount right after four writers\' burst: exit 0, nothing unshipped, everything stored', async t => {
  const server = await startServer(t)
  const agent = await startAgent(t, server, WB)
  fs.mkdirSync(path.join(agent.mnt, 'um'))
  const lines = 10000
  const done = await Promise.all([0, 1].map(async i =>
    writer({ file: path.join(agent.mnt, `um/w${i}.log`), lines, size: 200, prefix: `w${i}` }).done))
  for (const r of done) t.same(r, { lines, bytes: lines * 200, error: null })
  const open = [0, 1].map(i => oddLines(`o${i}`, 2000, 10 + i))
  await Promise.all(open.map(async (w, i) =>
    chunkWriter(t, path.join(agent.mnt, `um/o${i}.log`), w, { hold: true }).written))
  const stateDir = agent.proc.spawnargs[agent.proc.spawnargs.indexOf('--state-dir') + 1]
  const um = await cli(['umount', agent.mnt, '--state-dir', stateDir, '--json'])
  t.equal(um.code, 0, `umount exits 0 ${um.stderr}`)
  t.match(JSON.parse(um.stdout), { ok: true, pendingBytes: 0 }, 'umount reports nothing unshipped')
  t.equal(await agent.exited, 0, 'the agent exits 0')
  t.match(agent.events.find(e => e.event === 'stopped'), { ok: true, pendingBytes: 0 })
  for (const i of [0, 1]) {
    t.ok((await readSource(server, `testnode/um/w${i}.log`)).toString() === expected(`w${i}`, lines, 200),
      `w${i}.log (closed): every line once, in order`)
    t.ok((await readSource(server, `testnode/um/o${i}.log`)).toString() === open[i].join(''),
      `o${i}.log (still open): every line once, in order`)
  }
})

t.test('SIGTERM while a writer keeps writing: every line written before the signal arrives', async t => {
  const server = await startServer(t)
  const agent = await startAgent(t, server, [...WB, '--drain-timeout', '10s'])
  fs.mkdirSync(path.join(agent.mnt, 'busy'))
  const conn = connectionOf(agent.mnt)
  const busy = busyWriter(t, path.join(agent.mnt, 'busy/b.log'), 1)
  await sleep(1000)
  const signalled = Date.now()
  const stopping = agent.stop()
  await finishes(t, stopping, 'the stop finishes', agent.proc.pid!, conn)
  const report = await stopping
  t.equal(await agent.exited, 0, 'the agent exits 0')
  t.match(report, { ok: true, pendingBytes: 0 }, 'and reports nothing unshipped')
  await checkStoppedWriter(t, server, busy, 'testnode/busy/b.log', signalled, conn)
})

t.test('logfs umount of a supervised mount under a writer that keeps writing: the agent, its supervisor and the '
  + 'writer all end', async t => {
  const server = await startServer(t)
  const agent = await startAgent(t, server, WB, undefined, { supervised: true })
  const pid = (await waitFor('the agent\'s pid', () => agent.events.find(e => e.event === 'mounted'))).pid as number
  fs.mkdirSync(path.join(agent.mnt, 'busy'))
  const conn = connectionOf(agent.mnt)
  // About 1,500 lines a second through one descriptor.
  const busy = busyWriter(t, path.join(agent.mnt, 'busy/b.log'), 3)
  await sleep(4000)
  const stateDir = agent.proc.spawnargs[agent.proc.spawnargs.indexOf('--state-dir') + 1]
  const signalled = Date.now()
  const umount = cli(['umount', agent.mnt, '--state-dir', stateDir, '--json', '--timeout', '20s'])
  if (await finishes(t, agent.exited, 'the supervisor ends', pid, conn)) {
    t.equal(await agent.exited, 0, 'and exits 0')
  }
  const um = await umount
  t.equal(um.code, 0, `logfs umount exits 0 ${um.stderr}`)
  t.match(agent.events.find(e => e.event === 'stopped'), { ok: true, pendingBytes: 0 }, 'nothing left unshipped')
  await checkStoppedWriter(t, server, busy, 'testnode/busy/b.log', signalled, conn)
})
