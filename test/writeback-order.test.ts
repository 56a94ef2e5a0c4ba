// Writeback cache mode (`logfs mount --cache writeback`): the kernel's page cache takes write()s and a flusher
// syncs the mount every --flush-interval. The kernel sends the partial last page again at each flush and pages
// do not come in file order, yet every byte must reach the server once, in file order, within a bound.
// This file: the order and timeliness of what writers write; writeback-stop.test.ts has the stops,
// writeback-read.test.ts fsync and reads through the mount.
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { execFileSync, spawn } from 'node:child_process'
import { expected } from './fixtures/lines'
import {
  ROOT, arrived, readSource, sleep, sources, startAgent, startServer, writer, type Agent, type Server,
} from './helpers/cluster'
import { PAGE, WB, blob, bytesOf, chunkWriter, oddLines } from './helpers/writeback'

type T = Parameters<typeof startServer>[0]

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
