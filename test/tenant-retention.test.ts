// Retention per tenant in the embedded store: a tenant's size and age limits delete only its own oldest segments,
// a disk running short gives up the oldest segment of the tenant furthest over its share, and a data dir of store
// format 1 (every tenant in shared segments) is migrated on open and reads as before.
import t, { type Test } from 'tap'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { execFileSync } from 'node:child_process'
import type WebSocket from 'ws'
import { encodeFrame } from '../lib/wire/frames'
import { encodeEntry, fileHeader } from '../lib/store/disk/segment'
import { Store } from '../lib/store/disk/store'
import { expired, furthestOver, segmentBytesFor } from '../lib/store/disk/tenant-retention'
import { tenantDirName, tenantOfDirName } from '../lib/store/disk/layout'
import { batch, connect, exchange } from './helpers/ingest'
import { TOKEN, api, cli, readSource, sources, startServer, tempDir, type Server } from './helpers/cluster'
import { storeFiles } from '../lib/store/disk/layout'

const MiB = 1024 * 1024

/** Numbered lines of 100 bytes, `from` to `from + count - 1`. */
function lines (tag: string, from: number, count: number): string {
  let out = ''
  for (let n = from; n < from + count; n++) out += `${tag} ${String(n).padStart(10, '0')} `.padEnd(99, '.') + '\n'
  return out
}

/** A raw ingest client for one tenant's file: sends lines in batches and checks each is acknowledged. */
async function sender (t: Test, server: Server, tenant: string, file: string, timestamp = (): number => Date.now()):
  Promise<{ send: (text: string) => Promise<void>, close: () => void }> {
  const ws: WebSocket = await connect(server.ws, TOKEN)
  // exchange() listens for the close once per frame.
  ws.setMaxListeners(0)
  let seq = 0
  let offset = 0
  return {
    send: async (text: string) => {
      const data = Buffer.from(text)
      const rec = [`${tenant}/${file}`, offset, timestamp(), data]
      const { frame } = await exchange(ws, encodeFrame(batch(++seq, tenant, [rec]), false))
      if (frame?.t !== 'ack') t.fail(`${tenant} batch ${seq} not acknowledged: ${JSON.stringify(frame)}`)
      offset += data.length
    },
    close: () => ws.close(),
  }
}

const bytesOf = async (server: Server, source: string): Promise<number> =>
  (await sources(server)).find(s => s.source === source)?.bytes ?? 0

function limitsFile (t: Test, limits: unknown): string {
  const file = path.join(tempDir(t, 'limits'), 'limits.json')
  fs.writeFileSync(file, JSON.stringify(limits))
  return file
}

t.test('a tenant flooding 10× its retention size deletes only its own oldest data', async t => {
  const limits = limitsFile(t, { tenants: { flood: { retention: { size: '2MiB' } } } })
  const server = await startServer(t, { args: ['--limits', limits, '--segment-size', '1MiB'] })
  const quiet = await sender(t, server, 'quiet', 'app.log')
  const flood = await sender(t, server, 'flood', 'app.log')
  const batchLines = 2560 // 256 KiB
  const batches = 80 // 20 MiB: 10× the flood tenant's retention size
  let quietLines = 0
  for (let b = 0; b < batches; b++) {
    await flood.send(lines('flood', b * batchLines, batchLines))
    if (b % 8 === 0) { await quiet.send(lines('quiet', quietLines, 50)); quietLines += 50 }
  }
  quiet.close()
  flood.close()

  t.equal((await readSource(server, 'n1/quiet/app.log')).toString(), lines('quiet', 0, quietLines),
    'every line of the quiet tenant is readable, the oldest too')
  const kept = await bytesOf(server, 'n1/flood/app.log')
  // Whole segments go (1 MiB each here, the smallest a tenant's segments get): 2 MiB less one segment at least.
  t.ok(kept >= 0.9 * MiB && kept <= 3 * MiB, `the flooding tenant keeps about its 2 MiB (${kept} bytes)`)
  const floodText = (await readSource(server, 'n1/flood/app.log')).toString()
  t.ok(floodText.endsWith(lines('flood', batches * batchLines - 10, 10)), 'its newest lines are kept')
  t.notOk(floodText.includes(lines('flood', 0, 1)), 'its oldest are gone')
  t.match(server.stderr, /retention removed tenants\/flood\/\d{12}\.seg tenant=flood reason=size/)
  t.notMatch(server.stderr, /retention removed tenants\/quiet/, 'nothing of the quiet tenant was removed')

  const grep = await cli(['grep', '-w', `quiet ${String(quietLines - 1).padStart(10, '0')}`, '--json',
    '--server', server.http])
  t.equal(JSON.parse(grep.stdout).hits.length, 1, 'grep finds the quiet tenant\'s lines')
  const tail = await api<{ lines: Array<{ text: string }> }>(server, '/v1/tail?source=n1/quiet/app.log&lines=2')
  t.equal(tail.body.lines.length, 2, 'tail answers')
  t.equal(storeFiles(server.dataDir, '.seg').filter(f => f.includes('/tenants/quiet/')).length, 1,
    'the quiet tenant has a segment of its own')
})

t.test('a tenant\'s retention age deletes its old segments and no other tenant\'s', async t => {
  const limits = limitsFile(t, { tenants: { brief: { retention: { age: '1h' } } } })
  const server = await startServer(t, { args: ['--limits', limits, '--segment-size', '1MiB'] })
  const twoHoursAgo = (): number => Date.now() - 2 * 3600_000
  const brief = await sender(t, server, 'brief', 'app.log', twoHoursAgo)
  const kept = await sender(t, server, 'kept', 'app.log', twoHoursAgo)
  for (let b = 0; b < 12; b++) { // 3 MiB each, two hours old
    await brief.send(lines('brief', b * 2560, 2560))
    await kept.send(lines('kept', b * 2560, 2560))
  }
  brief.close()
  kept.close()
  t.equal((await readSource(server, 'n1/kept/app.log')).toString(), lines('kept', 0, 12 * 2560),
    'the tenant with the default age (7d) keeps all of it')
  const left = await bytesOf(server, 'n1/brief/app.log')
  t.ok(left > 0 && left <= 1.1 * MiB, `the tenant with a 1h age keeps its segment being written only (${left} bytes)`)
  t.match(server.stderr, /retention removed tenants\/brief\/\d{12}\.seg tenant=brief reason=age/)
  t.notMatch(server.stderr, /retention removed tenants\/kept/)
})

/** A tmpfs of `bytes`, unmounted in teardown. */
function tmpfs (t: Test, bytes: number): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'logfs-test-short-'))
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir])
  t.teardown(() => {
    execFileSync('umount', ['-l', dir])
    fs.rmdirSync(dir)
  })
  return dir
}

t.test('a disk running short gives up the oldest segment of the tenant furthest over its share', async t => {
  const dataDir = tmpfs(t, 8 * MiB)
  const server = await startServer(t, { dataDir, args: ['--segment-size', '1MiB'] })
  const quiet = await sender(t, server, 'quiet', 'app.log')
  const flood = await sender(t, server, 'flood', 'app.log')
  await quiet.send(lines('quiet', 0, 2000))
  const batchLines = 1280 // 128 KiB
  const batches = 192 // 24 MiB on an 8 MiB disk
  for (let b = 0; b < batches; b++) await flood.send(lines('flood', b * batchLines, batchLines))
  await quiet.send(lines('quiet', 2000, 2000))
  quiet.close()
  flood.close()

  t.match(server.stderr, /disk short: removed tenants\/flood\/\d{12}\.seg of tenant flood, the furthest over its share/,
    'the store says whose segment it removed')
  t.notMatch(server.stderr, /removed tenants\/quiet/, 'none of the quiet tenant\'s')
  t.notMatch(server.stderr, /data dir full/, 'no batch was refused: each found room')
  t.equal((await readSource(server, 'n1/quiet/app.log')).toString(), lines('quiet', 0, 4000),
    'every line of the quiet tenant is kept, also the ones written once the disk was full')
  const floodText = (await readSource(server, 'n1/flood/app.log')).toString()
  t.ok(floodText.length < 8 * MiB && floodText.endsWith(lines('flood', batches * batchLines - 10, 10)),
    `the flooding tenant keeps its newest lines (${floodText.length} bytes)`)
  t.notOk(floodText.includes(lines('flood', 0, 1)), 'and lost its oldest')
  // What was removed stays known: a resend of the flood tenant's first bytes is not stored again.
  const again = await sender(t, server, 'flood', 'app.log')
  await again.send(lines('flood', 0, 10))
  again.close()
  t.equal((await readSource(server, 'n1/flood/app.log')).toString(), floodText,
    'a resend of removed bytes is a duplicate')
})

/** A segment of store format 1: the header and the given entries, as format 1 kept them at the data dir's top. */
function oldSegment (entries: Array<{ source: string, offset: number, text: string, timestamp?: number }>): Buffer {
  return Buffer.concat([fileHeader(), ...entries.map(e => encodeEntry({
    source: e.source, gen: 7, offset: e.offset, timestamp: e.timestamp ?? Date.now(), data: Buffer.from(e.text),
  }))])
}

/** A format-1 data dir: two sealed segments and an open one with a torn tail, two tenants, and marks.json. */
function formatOneDir (t: Test): { dir: string, prod: string, dev: string } {
  const dir = tempDir(t, 'format1')
  const prod = [lines('prod', 0, 3000), lines('prod', 3000, 3000), lines('prod', 6000, 100)]
  const dev = [lines('dev', 0, 500), lines('dev', 500, 500), lines('dev', 1000, 500)]
  let p = 0
  let d = 0
  for (let i = 0; i < 3; i++) {
    const seg = oldSegment([
      { source: 'n1/prod/api.log', offset: p, text: prod[i] },
      { source: 'n1/dev/web.log', offset: d, text: dev[i] },
    ])
    p += prod[i].length
    d += dev[i].length
    // The newest segment's last entry torn by a crash: cut off on open, as format 1 did.
    fs.writeFileSync(path.join(dir, `00000000000${i + 1}.seg`), i === 2 ? seg.subarray(0, seg.length - 7) : seg)
  }
  fs.writeFileSync(path.join(dir, '000000000001.idx'), 'a sidecar of format 1, rebuilt for the copies')
  fs.writeFileSync(path.join(dir, 'marks.json'), JSON.stringify({ version: 1, marks: { 'n1/gone/x.log': { 7: 500 } } }))
  return { dir, prod: prod.join(''), dev: dev.slice(0, 2).join('') }
}

t.test('a data dir of store format 1 is migrated on open, and every reader answers as before', async t => {
  const { dir, prod, dev } = formatOneDir(t)
  const server = await startServer(t, { dataDir: dir })
  t.match(server.stderr, /migrating .* from store format 1 to 2/)
  t.same(fs.readdirSync(dir).sort(), ['marks.json', 'tenants'], 'the shared segments and their sidecar are gone')
  t.same(fs.readdirSync(path.join(dir, 'tenants')).sort(), ['dev', 'prod'], 'each tenant has its directory')
  t.equal((await readSource(server, 'n1/prod/api.log')).toString(), prod, 'prod reads every byte once, in order')
  t.equal((await readSource(server, 'n1/dev/web.log')).toString(), dev, 'dev too, up to the torn entry')
  const S = ['--server', server.http]
  const cat = await cli(['cat', 'dev/web.log', ...S])
  t.equal(cat.stdout, dev, 'logfs cat')
  const grep = await cli(['grep', '-w', 'prod 0000004321', '--json', ...S])
  t.same(JSON.parse(grep.stdout).hits.map((h: { text: string }) => h.text), [lines('prod', 4321, 1).trim()],
    'logfs grep')
  const tail = await cli(['tail', 'prod/api.log', '-n', '1', ...S])
  t.equal(tail.stdout, lines('prod', 6099, 1), 'logfs tail')
  const hist = await api<{ buckets: unknown[] }>(server, '/v1/histogram?q=dev')
  t.equal(hist.status, 200, 'histogram answers')

  // marks.json of format 1 is kept: bytes retention removed before the migration are still known.
  const ws = await connect(server.ws, TOKEN)
  const { frame } = await exchange(ws, encodeFrame(batch(1, 'gone', [['gone/x.log', 0, Date.now(),
    Buffer.from('x'.repeat(500))]], { gen: 7 }), false))
  t.match(frame, { t: 'ack', stored: 0 }, 'a resend of removed bytes is a duplicate')
  ws.close()

  server.proc.kill('SIGTERM')
  await server.exited
  const again = await startServer(t, { dataDir: dir })
  t.notMatch(again.stderr, /migrating/, 'a migrated data dir is not migrated again')
  t.equal((await readSource(again, 'n1/prod/api.log')).toString(), prod, 'and reads the same after a restart')
  t.equal(storeFiles(dir, '.idx').length, storeFiles(dir, '.seg').length, 'every segment has its sidecar')
})

t.test('a migration cut short by a crash is taken up where it stopped, copying nothing twice', async t => {
  const { dir, prod, dev } = formatOneDir(t)
  // The crash came after part of the first segment was copied: the first 2000 lines of prod.
  const copied = path.join(dir, 'tenants/prod')
  fs.mkdirSync(copied, { recursive: true })
  fs.writeFileSync(path.join(copied, '000000000001.seg'),
    oldSegment([{ source: 'n1/prod/api.log', offset: 0, text: lines('prod', 0, 2000) }]))
  const store = Store.open({ dir, segmentBytes: 64 * MiB, retentionBytes: 1e12, retentionMs: 0 })
  t.teardown(() => store.close())
  t.equal(store.read('n1/prod/api.log', null, 1e9).data.toString(), prod, 'prod once, in order')
  t.equal(store.read('n1/dev/web.log', null, 1e9).data.toString(), dev, 'dev once, in order')
  t.same(storeFiles(dir, '.seg').map(f => path.relative(dir, f)),
    ['tenants/dev/000000000001.seg', 'tenants/prod/000000000001.seg'])
})

t.test('shares, expiry, segment sizes and directory names', async t => {
  const h = (key: string, bytes: number, retentionSize: number, deletable = true) =>
    ({ key, bytes, retentionSize, deletable })
  t.equal(furthestOver([h('a', 100, 10)]), null, 'one tenant alone is never over its share')
  t.match(furthestOver([h('a', 70, 10), h('b', 30, 10)]), { holding: { key: 'a' }, share: 50 },
    'equal retention: halves')
  t.equal(furthestOver([h('a', 75, 30), h('b', 25, 10)]), null, 'shares in proportion to retention.size: 75 and 25')
  t.match(furthestOver([h('a', 60, 30), h('b', 40, 10)]), { holding: { key: 'b' }, share: 25 },
    'the furthest over by ratio, not by bytes')
  t.match(furthestOver([h('a', 60, 10, false), h('b', 20, 10), h('c', 20, 10)]), null,
    'a tenant with only the segment it writes gives nothing')
  t.match(furthestOver([h('a', 50, Infinity), h('b', 50, 0)]), { holding: { key: 'b' } },
    'no limit counts as the largest, 0 still has a share')

  const now = 1_000_000_000
  t.equal(expired({ size: 100, ageMs: 0 }, 101, now, now), 'size')
  t.equal(expired({ size: 100, ageMs: 1000 }, 100, now - 1001, now), 'age')
  t.equal(expired({ size: 100, ageMs: 1000 }, 100, now - 999, now), null)
  t.equal(expired({ size: 100, ageMs: 0 }, 100, 1, now), null, 'age 0: no age limit')

  t.equal(segmentBytesFor(64 * MiB, 10 * 1024 * MiB), 64 * MiB)
  t.equal(segmentBytesFor(64 * MiB, 100 * MiB), 25 * MiB, 'a quarter of a small retention size')
  t.equal(segmentBytesFor(64 * MiB, 2 * MiB), MiB, '1 MiB at least')
  t.equal(segmentBytesFor(200_000, 100_000), 200_000, 'never above --segment-size')

  for (const name of ['shop', 'kube-system', 'default', '.hidden', 'a~b', 'ü 日本 x', '%41', 'x'.repeat(300)]) {
    const dir = tenantDirName(name)
    t.ok(dir.length <= 200 && !dir.includes('/') && !dir.startsWith('.'), `${name.slice(0, 20)}: ${dir.slice(0, 40)}`)
    t.equal(tenantOfDirName(dir), name.length > 200 ? null : name, 'read back, unless cut')
  }
  t.not(tenantDirName('x'.repeat(300)), tenantDirName('x'.repeat(301)), 'cut names stay apart')
})

t.test('a tenant whose name is too long for a directory name keeps its own segments across a restart', async t => {
  const dir = tempDir(t, 'long')
  const long = 'ns-' + 'x'.repeat(250)
  const open = (): Store => Store.open({
    dir, segmentBytes: MiB, retentionBytes: 0, retentionMs: 0,
    retention: tenant => ({ size: tenant === long ? 2 * MiB : 1e12, ageMs: 0 }),
  })
  let store = open()
  const text = lines('long', 0, 5000)
  const source = `n1/${long}/a.log`
  await store.append([{ source, gen: 1, offset: 0, timestamp: Date.now(), data: Buffer.from(text) }])
  await store.close()
  store = open()
  t.teardown(() => store.close())
  t.equal(store.read(source, null, 1e9).data.toString(), text, 'read back after a restart')
  for (let b = 0; b < 40; b++) {
    const data = Buffer.from(lines('long', 5000 + b * 1000, 1000))
    await store.append([{ source, gen: 1, offset: text.length + b * data.length, timestamp: Date.now(), data }])
  }
  const kept = store.read(source, null, 1e9).data.length
  t.ok(kept <= 3 * MiB && kept > 0, `its own retention applies, its name known from its entries (${kept} bytes kept)`)
  t.equal(fs.readdirSync(path.join(dir, 'tenants')).length, 1, 'one directory, the same after the restart')
})
