// Writeback cache mode (`logfs mount --cache writeback`): the kernel's page cache takes write()s and a flusher
// syncs the mount every --flush-interval. The kernel sends the partial last page again at each flush and pages
// do not come in file order, yet every byte must reach the server once, in file order, within a bound.
import t, { type Test } from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { expected } from './fixtures/lines'
import {
  ROOT, arrived, cli, readSource, sleep, sources, startAgent, startServer, tempDir, waitFor, writer,
  type Agent, type Server,
} from './helpers/cluster'

type T = Parameters<typeof startServer>[0]

const WB = ['--cache', 'writeback', '--flush-interval', '20ms']
/** A flusher that never runs within a test: only fsync, close, a direct read or the agent's stop move bytes. */
const WB_IDLE = ['--cache', 'writeback', '--flush-interval', '60s']
const PAGE = 4096

/**
 * Numbered lines of lengths that divide no page size (page-sized ±1 among them), one write() each: `prefix n `,
 * then letters that shift with n (a misplaced byte shows), then '\n'.
 */
function oddLines (prefix: string, count: number, seed: number): string[] {
  const special = [4095, 4097, 8191, 8193, 12289, 2047, 2049, 4000, 100, 33]
  let x = seed >>> 0
  const out: string[] = []
  for (let n = 0; n < count; n++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0
    const len = n % 5 === 0 ? special[(n / 5) % special.length] : 20 + (x % 5000)
    out.push(numbered(prefix, n, len))
  }
  return out
}

function numbered (prefix: string, n: number, len: number): string {
  const head = `${prefix} ${String(n).padStart(8, '0')} `
  let body = ''
  for (let i = 0; body.length < len - head.length - 1; i++) body += String.fromCharCode(97 + (n + i) % 26)
  return head + body + '\n'
}

/** Exactly `size` bytes of numbered 1000-byte lines (the last one shorter), for one large write(). */
function blob (prefix: string, size: number): string {
  const lines: string[] = []
  let left = size
  for (let n = 0; left > 0; n++) {
    const len = left - 1000 >= 100 ? 1000 : left
    lines.push(numbered(prefix, n, len))
    left -= len
  }
  return lines.join('')
}

/** How many of these writes, made one after another from offset 0, cross a page boundary. */
function straddling (writes: string[]): number {
  let at = 0
  let n = 0
  for (const w of writes) {
    const len = Buffer.byteLength(w)
    if (Math.floor(at / PAGE) !== Math.floor((at + len - 1) / PAGE)) n++
    at += len
  }
  return n
}

// The chunk writer: appends slices of a data file to one file (opened O_APPEND), one write() per cut; a cut of
// -1 is `truncate -s 0` of the file by another process while this one keeps its descriptor. With `hold` it keeps
// the file open after the last write until killed. Runs as its own process, as applications do.
const CHUNK_WRITER = `
const fs = require('fs')
const cp = require('child_process')
const spec = JSON.parse(fs.readFileSync(process.argv[1], 'utf8'))
const data = fs.readFileSync(spec.data)
const fd = fs.openSync(spec.file, 'a')
let at = 0
for (const cut of spec.cuts) {
  if (cut < 0) { cp.execFileSync('truncate', ['-s', '0', spec.file]); continue }
  const n = fs.writeSync(fd, data, at, cut)
  if (n !== cut) throw new Error('short write: ' + n + ' of ' + cut)
  at += cut
}
if (!spec.hold) fs.closeSync(fd)
process.stdout.write('written\\n')
if (spec.hold) setInterval(() => {}, 1000)
`

interface Chunked { proc: ChildProcess, written: Promise<void> }

/** Writes `writes` to `file` in that many write() calls (null: truncate -s 0 there) from a child process. */
function chunkWriter (t: T, file: string, writes: Array<string | null>, opts: { hold?: boolean } = {}): Chunked {
  const dir = tempDir(t, 'chunks')
  const data = path.join(dir, 'data')
  fs.writeFileSync(data, writes.filter(w => w !== null).join(''))
  const cuts = writes.map(w => w === null ? -1 : Buffer.byteLength(w))
  const spec = path.join(dir, 'spec.json')
  fs.writeFileSync(spec, JSON.stringify({ file, data, cuts, hold: opts.hold ?? false }))
  const proc = spawn(process.execPath, ['-e', CHUNK_WRITER, spec], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { if (proc.exitCode === null) proc.kill('SIGKILL') })
  let out = ''
  let err = ''
  proc.stdout?.on('data', (c: Buffer) => { out += c.toString() })
  proc.stderr?.on('data', (c: Buffer) => { err += c.toString() })
  const written = new Promise<void>((resolve, reject) => {
    proc.stdout?.on('data', () => { if (out.includes('written\n')) resolve() })
    proc.once('exit', code => {
      if (out.includes('written\n') && code === 0) resolve()
      else reject(new Error(`chunk writer exited ${code}: ${err}`))
    })
  })
  return { proc, written }
}

// The slow writer: one 200-byte line every `every` ms, O_APPEND, file kept open throughout; prints the time of
// each write() as JSON, then closes the file.
const SLOW_WRITER = `
const fs = require('fs')
const { line } = require(${JSON.stringify(path.join(ROOT, 'dist/test/fixtures/lines.js'))})
const [file, count, size, every] = [process.argv[1], +process.argv[2], +process.argv[3], +process.argv[4]]
const fd = fs.openSync(file, 'a')
const times = []
const tick = () => {
  if (times.length === count) {
    process.stdout.write(JSON.stringify(times) + '\\n')
    fs.closeSync(fd)
    return
  }
  const text = line('slow', times.length, size)
  times.push(Date.now())
  fs.writeSync(fd, text)
  setTimeout(tick, every)
}
tick()
`

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

async function bytesOf (server: Server, source: string): Promise<number> {
  return (await sources(server)).find(s => s.source === source)?.bytes ?? 0
}

/** The p-quantile of sorted numbers. */
const pct = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * p) - 1)]

/**
 * Runs the slow writer into `file` while polling the server for the source's size; per line, the delay from its
 * write() to the first poll that saw it stored (an upper bound: polls are a few ms apart).
 */
async function deliveryDelays (t: T, server: Server, agent: Agent, rel: string, count: number): Promise<number[]> {
  const size = 200
  const source = `testnode/${rel}`
  const args = [path.join(agent.mnt, rel), String(count), String(size), '10']
  const proc = spawn(process.execPath, ['-e', SLOW_WRITER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { if (proc.exitCode === null) proc.kill('SIGKILL') })
  let out = ''
  let err = ''
  proc.stdout?.on('data', (c: Buffer) => { out += c.toString() })
  proc.stderr?.on('data', (c: Buffer) => { err += c.toString() })
  const exited = new Promise<number | null>(resolve => proc.once('exit', resolve))
  let writerDone = false
  void exited.then(() => { writerDone = true })
  const samples: Array<[at: number, bytes: number]> = []
  const deadline = Date.now() + 30000
  for (;;) {
    const bytes = await bytesOf(server, source)
    samples.push([Date.now(), bytes])
    if (writerDone && bytes >= count * size) break
    if (Date.now() > deadline) throw new Error(`${source}: ${bytes} of ${count * size} bytes after 30 s; ${err}`)
    await sleep(3)
  }
  if (await exited !== 0) throw new Error(`slow writer failed: ${err}`)
  const times = JSON.parse(out) as number[]
  let s = 0
  return times.map((written, n) => {
    while (samples[s][1] < (n + 1) * size) s++
    return samples[s][0] - written
  })
}

t.test('one writer, then four at once (own files and two O_APPEND writers sharing one): every line once, in order',
  async t => {
    const server = await startServer(t)
    const agent = await startAgent(t, server, WB)
    fs.mkdirSync(path.join(agent.mnt, 'wb/app'), { recursive: true })
    const file = (name: string): string => path.join(agent.mnt, 'wb/app', name)

    const solo = 30000
    const r = await writer({ file: file('solo.log'), lines: solo, size: 200, prefix: 'solo' }).done
    t.same(r, { lines: solo, bytes: solo * 200, error: null })
    await arrived(server, 'testnode/wb/app/solo.log', solo * 200)
    t.ok((await readSource(server, 'testnode/wb/app/solo.log')).toString() === expected('solo', solo, 200),
      'one writer: 30000 lines byte-exact, once, in order')

    const lines = 12000
    const ws = [
      writer({ file: file('own0.log'), lines, size: 200, prefix: 'own0' }),
      writer({ file: file('own1.log'), lines, size: 200, prefix: 'own1' }),
      writer({ file: file('shared.log'), lines, size: 200, prefix: 'sh0' }),
      writer({ file: file('shared.log'), lines, size: 200, prefix: 'sh1' }),
    ]
    for (const res of await Promise.all(ws.map(w => w.done))) t.same(res, { lines, bytes: lines * 200, error: null })
    await arrived(server, 'testnode/wb/app/own0.log', lines * 200)
    await arrived(server, 'testnode/wb/app/own1.log', lines * 200)
    await arrived(server, 'testnode/wb/app/shared.log', 2 * lines * 200)
    for (const i of [0, 1]) {
      t.ok((await readSource(server, `testnode/wb/app/own${i}.log`)).toString() === expected(`own${i}`, lines, 200),
        `own${i}.log: byte-exact, once, in order`)
    }
    const shared = (await readSource(server, 'testnode/wb/app/shared.log')).toString()
    t.equal(shared.length, 2 * lines * 200, 'shared.log: every byte once')
    const got = shared.split('\n').filter(Boolean)
    t.equal(got.filter(l => !/^sh[01] \d{8} x+$/.test(l) || l.length !== 199).length, 0, 'shared.log: no torn line')
    for (const i of [0, 1]) {
      t.ok(got.filter(l => l.startsWith(`sh${i} `)).join('\n') + '\n' === expected(`sh${i}`, lines, 200),
        `shared.log: writer ${i}'s lines whole, once, in order`)
    }

    // Flushes keep coming after the writers are done: nothing is sent a second time.
    await sleep(400)
    const rows = (await sources(server)).filter(s => s.source.startsWith('testnode/wb/app/'))
    t.same(Object.fromEntries(rows.map(s => [s.source, [s.bytes, s.gapBytes]])), {
      'testnode/wb/app/solo.log': [solo * 200, 0],
      'testnode/wb/app/own0.log': [lines * 200, 0],
      'testnode/wb/app/own1.log': [lines * 200, 0],
      'testnode/wb/app/shared.log': [2 * lines * 200, 0],
    }, 'no bytes arrive twice, no gaps, after later flushes')
    const report = await agent.stop()
    t.equal(await agent.exited, 0)
    t.match(report, { ok: true, pendingBytes: 0, tenants: [{ tenant: 'wb', droppedBytes: 0 }] })
  })

t.test('a slow writer\'s lines arrive within a bound, not at close or kernel writeback', async t => {
  const server = await startServer(t)
  const agent = await startAgent(t, server, WB)
  fs.mkdirSync(path.join(agent.mnt, 'wb'))
  const count = 200
  const delays = await deliveryDelays(t, server, agent, 'wb/slow.log', count)
  const sorted = [...delays].sort((a, b) => a - b)
  const [p50, p99, max] = [pct(sorted, 0.5), pct(sorted, 0.99), sorted[sorted.length - 1]]
  t.comment(`writeback, --flush-interval 20ms, ${count} lines 10 ms apart: write → stored on the server `
    + `p50 ${p50} ms, p99 ${p99} ms, max ${max} ms`)
  t.ok(p99 < 500, `p99 delay ${p99} ms is well under a second`)
  t.ok(max < 2000, `every line arrived within 2 s of its write (max ${max} ms)`)
  t.ok((await readSource(server, 'testnode/wb/slow.log')).toString() === expected('slow', count, 200),
    'every line once, in order')
  t.match(await agent.stop(), { ok: true, pendingBytes: 0 })
})

t.test('odd line lengths, lines across page boundaries, a 1 MiB write(), truncate -s 0 and copytruncate',
  async t => {
    const server = await startServer(t)
    const agent = await startAgent(t, server, WB)
    fs.mkdirSync(path.join(agent.mnt, 'wb/odd'), { recursive: true })

    // Odd lines, then 1 MiB in one write() that starts and ends mid-page, then odd lines again.
    const before = oddLines('pre', 600, 1)
    const big = blob('big', 1024 * 1024)
    const after = oddLines('post', 600, 2)
    const writes = [...before, big, ...after]
    t.ok(straddling(writes) > 500, `${straddling(writes)} of ${writes.length} writes cross a page boundary`)
    t.ok(Buffer.byteLength(before.join('')) % PAGE !== 0, 'the 1 MiB write starts mid-page')
    const mixed = path.join(agent.mnt, 'wb/odd/mixed.log')
    await chunkWriter(t, mixed, writes).written
    const all = writes.join('')
    await arrived(server, 'testnode/wb/odd/mixed.log', all.length)
    t.ok((await readSource(server, 'testnode/wb/odd/mixed.log')).toString() === all,
      `odd lines and the 1 MiB write: ${all.length} bytes byte-exact, once, in order`)

    // A writer keeps appending (O_APPEND) while another process truncates its file to 0, twice.
    const segs = [oddLines('r0', 300, 3), oddLines('r1', 300, 4), oddLines('r2', 300, 5)]
    const rotate = path.join(agent.mnt, 'wb/odd/rotate.log')
    await chunkWriter(t, rotate, [...segs[0], null, ...segs[1], null, ...segs[2]]).written
    const stream = segs.flat().join('')
    await arrived(server, 'testnode/wb/odd/rotate.log', stream.length)
    t.ok((await readSource(server, 'testnode/wb/odd/rotate.log')).toString() === stream,
      'truncate -s 0 under an O_APPEND writer: the bytes before and after each truncate, once, in order')
    const last = segs[2].join('')
    t.equal(fs.statSync(rotate).size, last.length, 'the live file holds what came after the last truncate')
    t.ok(execFileSync('tail', ['-c', '20000', rotate]).equals(Buffer.from(last).subarray(-20000)),
      'and reads back as such')

    // The copytruncate of the test writer: copy the file aside, then ftruncate the descriptor it writes with.
    const cpt = await writer({
      file: path.join(agent.mnt, 'wb/odd/cpt.log'), lines: 3000, size: 150, prefix: 'cpt',
      rotate: 'copytruncate', rotateEvery: 400,
    }).done
    t.same(cpt, { lines: 3000, bytes: 3000 * 150, error: null })
    await arrived(server, 'testnode/wb/odd/cpt.log', 3000 * 150)
    t.ok((await readSource(server, 'testnode/wb/odd/cpt.log')).toString() === expected('cpt', 3000, 150),
      'copytruncate: every line once, in order')

    await sleep(400)
    const rows = (await sources(server)).filter(s => s.source.startsWith('testnode/wb/odd/'))
    t.same(Object.fromEntries(rows.map(s => [s.source, [s.bytes, s.gapBytes]])), {
      'testnode/wb/odd/mixed.log': [all.length, 0],
      'testnode/wb/odd/rotate.log': [stream.length, 0],
      'testnode/wb/odd/cpt.log': [3000 * 150, 0],
    }, 'nothing arrives twice after later flushes; the copies are not shipped')
    t.match(await agent.stop(), { ok: true, pendingBytes: 0 })
  })

t.test('fsync and fdatasync return only once the server has the bytes', async t => {
  const server = await startServer(t)
  // The flusher would not run for a minute: only the fsync can have brought the bytes to the server.
  const agent = await startAgent(t, server, WB_IDLE)
  fs.mkdirSync(path.join(agent.mnt, 'db'))
  const source = 'testnode/db/sync.log'
  const fd = fs.openSync(path.join(agent.mnt, 'db/sync.log'), 'a')
  let written = ''
  let early = 0
  const texts = ['must be durable\n', 'y'.repeat(5000) + '\n', 'short\n', 'z'.repeat(PAGE) + '\n', 'end\n']
  for (const [i, text] of texts.entries()) {
    fs.writeSync(fd, text)
    written += text
    if (await bytesOf(server, source) === written.length) early++
    if (i % 2) fs.fdatasyncSync(fd)
    else fs.fsyncSync(fd)
    t.equal(await bytesOf(server, source), written.length, `after ${i % 2 ? 'fdatasync' : 'fsync'} ${i + 1} `
      + `the server already has all ${written.length} bytes`)
  }
  t.comment(`${early} of ${texts.length} writes were on the server before their fsync (expected 0)`)
  t.equal((await readSource(server, source)).toString(), written, 'byte-exact, the re-sent partial pages once')
  fs.closeSync(fd)
  t.match(await agent.stop(), { ok: true, pendingBytes: 0 })
})

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

t.test('recent bytes read back through the mount: page cache, logfs itself (O_DIRECT), after eviction', async t => {
  const server = await startServer(t)
  const agent = await startAgent(t, server, WB)
  fs.mkdirSync(path.join(agent.mnt, 'rd'))
  const file = path.join(agent.mnt, 'rd/r.log')
  const first = oddLines('rd', 400, 7)
  // Held open: the partial last page stays the kernel's, dirty or not, as in a running application.
  await chunkWriter(t, file, first, { hold: true }).written
  let data = Buffer.from(first.join(''))
  const window = 30000
  const cached = (): Buffer => execFileSync('tail', ['-c', String(window), file])
  const direct = (from: number, count = window): Buffer => execFileSync('dd',
    [`if=${file}`, 'iflag=direct,skip_bytes,count_bytes', `skip=${from}`, `count=${count}`, 'bs=64K'],
    { stdio: ['ignore', 'pipe', 'ignore'] })
  t.ok(cached().equals(data.subarray(-window)), 'tail -c through the page cache gives the last bytes written')
  // O_DIRECT: the kernel writes dirty pages back, then asks logfs, which answers from the file's tail.
  t.ok(direct(data.length - window).equals(data.subarray(-window)), 'an O_DIRECT read of the tail from logfs too')
  t.ok(direct(0, PAGE).equals(Buffer.alloc(PAGE)),
    'bytes older than logfs\'s tail window read as zeros: the direct read did reach logfs')

  // Drop the file's clean pages: the next append makes the kernel read the partial last page back from logfs.
  await waitFor('the first part stored', async () => await bytesOf(server, 'testnode/rd/r.log') === data.length)
  execFileSync('dd', [`if=${file}`, 'iflag=nocache', 'count=0'], { stdio: 'ignore' })
  const evicted = execFileSync('head', ['-c', String(PAGE), file]).equals(Buffer.alloc(PAGE))
  t.comment(evicted ? 'the page cache was dropped (old bytes now read as zeros)' : 'the page cache was not dropped')
  const more = oddLines('rd2', 60, 8)
  await chunkWriter(t, file, more).written
  data = Buffer.concat([data, Buffer.from(more.join(''))])
  t.ok(cached().equals(data.subarray(-window)), 'after eviction and more appends: tail -c gives the bytes written')
  t.ok(direct(data.length - window).equals(data.subarray(-window)), 'and so does an O_DIRECT read')
  await arrived(server, 'testnode/rd/r.log', data.length)
  t.ok((await readSource(server, 'testnode/rd/r.log')).equals(data), 'the server has every byte once, in order')
  t.match(await agent.stop(), { ok: true, pendingBytes: 0 })
})
