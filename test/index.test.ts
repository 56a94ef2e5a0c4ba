// The store's per-segment indexes: what a token is and which tokens a pattern proves, the bit-sliced
// filter, sidecars written when segments seal, read back on open, rebuilt when missing or corrupt, removed by
// retention; and that pruned searches and traces answer exactly what a full scan answers.
import fs from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { Store, type StoreOptions } from '../lib/store/disk/store'
import { provenTokens, tokenHash } from '../lib/store/tokens'
import { buildFilter, mayHoldAll } from '../lib/store/blockfilter'
import { regexLiterals, requiredTokens } from '../lib/query/literals'
import { grep, type GrepQuery } from '../lib/query/grep'
import { buildTrace } from '../lib/query/trace'
import { selectSources } from '../lib/query/scope'
import { tempDir } from './helpers/cluster'
import { storeFiles } from '../lib/store/disk/layout'

const h = (token: string): number => tokenHash(Buffer.from(token), 0, token.length)

t.test('tokens a pattern proves', async t => {
  t.same(provenTokens('needle-5000.'), [h('5000')], 'only a token with a boundary inside the pattern on both sides')
  t.same(provenTokens('needle'), [], 'a bare word may sit inside a longer token')
  t.same(provenTokens('needle', true, true), [h('needle')], 'unless its edges are word boundaries (-w)')
  t.same(provenTokens('"4bf92f35-77b3"'), [h('4bf92f35'), h('77b3')])
  t.same(provenTokens('a "ab" x'), [], 'tokens shorter than 3 prove nothing')
  t.equal(h('ERROR'), h('error'), 'one filter serves -i')
  const long = 'x'.repeat(100)
  t.equal(h(long), h(long + 'y'), 'tokens are cut at 64 bytes, in the filter and in queries alike')

  t.same(regexLiterals('upstream timeout after \\d+'), [
    { text: 'upstream timeout after ', leftBound: false, rightBound: false },
  ])
  t.same(regexLiterals('a|b'), [], 'a top-level alternation requires nothing')
  t.same(regexLiterals('ab?c(x|y)+de\\.f[g]'), [
    { text: 'a', leftBound: false, rightBound: false },
    { text: 'c', leftBound: false, rightBound: false },
    { text: 'de.f', leftBound: false, rightBound: false },
  ], 'optional atoms, groups and classes end a run; escaped punctuation is literal')
  t.same(regexLiterals('^GET \\bfoo\\b'), [
    { text: 'GET ', leftBound: true, rightBound: true },
    { text: 'foo', leftBound: true, rightBound: true },
  ])
  t.same(regexLiterals('ab{0,2}cd{2}e'), [
    { text: 'a', leftBound: false, rightBound: false },
    { text: 'cd', leftBound: false, rightBound: false },
    { text: 'e', leftBound: false, rightBound: false },
  ])
  const q = (pattern: string, over: Partial<GrepQuery> = {}): number[] =>
    requiredTokens({ pattern, regex: false, word: false, ...over })
  t.same(q('timeout'), [])
  t.same(q('timeout', { word: true }), [h('timeout')])
  t.same(q('user=alice id', { word: true }), [h('user'), h('alice')], 'id is too short')
  t.same(q('\\buser=(\\w+) failed', { regex: true }), [h('user')])
  t.same(q('.*', { regex: true }), [])
})

t.test('bit-sliced filter: no false negatives, few false positives', async t => {
  const blocks: Uint32Array[] = []
  for (let b = 0; b < 21; b++) {
    blocks.push(Uint32Array.from(new Set(Array.from({ length: 500 }, (_, i) => h(`tok${b}x${i}`)))).sort())
  }
  const { shape, bits } = buildFilter(blocks)
  t.equal(shape.rowBytes, 3)
  const row = (r: number): Uint8Array => bits.subarray(r * shape.rowBytes, (r + 1) * shape.rowBytes)
  const set = (map: Uint8Array): number[] => [...Array(21).keys()].filter(k => (map[k >> 3] & (1 << (k & 7))) !== 0)
  for (let b = 0; b < 21; b++) t.ok(set(mayHoldAll([h(`tok${b}x7`)], shape, 21, row)).includes(b))
  t.same(set(mayHoldAll([h('tok3x1'), h('tok3x499')], shape, 21, row)), [3], 'two tokens of one block')
  let falsePositives = 0
  for (let i = 0; i < 1000; i++) falsePositives += set(mayHoldAll([h(`absent${i}`)], shape, 21, row)).length
  t.ok(falsePositives < 21 * 1000 * 0.005, `${falsePositives} false positives in 21,000 probes`)
})

interface Opened { store: Store, dir: string }

function openStore (t: Test, dir: string, options: Partial<StoreOptions> = {}): Store {
  const store = Store.open({ dir, segmentBytes: 1 << 20, retentionBytes: 1e12, retentionMs: 0, ...options })
  t.teardown(() => store.close())
  return store
}

/**
 * Lines of JSON over two sources of two tenants (so two directories of segments) in batches, enough for several
 * 1 MiB segments; a token split across entries.
 */
async function fill (t: Test, options: Partial<StoreOptions> = {}): Promise<Opened & { lines: number }> {
  const dir = tempDir(t, 'index')
  const store = openStore(t, dir, options)
  const offsets = new Map<string, number>()
  const append = (source: string, text: string, ts: number): Promise<unknown> => {
    const offset = offsets.get(source) ?? 0
    offsets.set(source, offset + text.length)
    return store.append([{ source, gen: 1, offset, timestamp: ts, data: Buffer.from(text) }])
  }
  let lines = 0
  for (let batch = 0; batch < 60; batch++) {
    for (const source of ['n/a/app.log', 'n/b/app.log']) {
      let text = ''
      for (let i = 0; i < 400; i++, lines++) {
        const trace = `t${lines % 5000}`
        text += `{"level":"${lines % 100 === 0 ? 'error' : 'info'}","trace_id":"${trace}","rpc_id":"1",` +
          `"msg":"request ${lines} handled by worker-${lines % 7}"}\n`
      }
      await append(source, text, 1000 + batch)
    }
  }
  // One token cut in two by the batches that carry it.
  await append('n/a/app.log', '{"msg":"the splitto', 2000)
  await append('n/a/app.log', 'kenword is here"}\n', 2001)
  await store.indexed()
  return { store, dir, lines }
}

const all = (store: Store): ReturnType<typeof selectSources> => selectSources(store, () => true, null)
const base = { regex: false, ignoreCase: false, word: false, limit: 10_000 }
const sidecars = (dir: string): string[] => storeFiles(dir, '.idx')
const segments = (dir: string): string[] => storeFiles(dir, '.seg')
/** Tenants a and b each write one segment at a time. */
const OPEN = 2

t.test('sealed segments get sidecars; searches read only candidate blocks and answer what a scan answers',
  async t => {
    const { store, dir, lines } = await fill(t)
    const segs = segments(dir).length
    t.ok(segs >= 5, `${segs} segments`)
    t.equal(sidecars(dir).length, segs - OPEN, 'every sealed segment, not the open ones')
    t.equal(store.indexStats().indexedSegments, segs - OPEN)

    const pruned = await grep(store, all(store), { ...base, pattern: 'request 12345 handled' })
    // A top-level alternation proves no token: this one is a scan of everything.
    const scanned = await grep(store, all(store), { ...base, pattern: 'request 12345 handled|x^', regex: true })
    t.notOk(scanned.indexed)
    t.equal(pruned.hits.length, 1)
    t.same(pruned.hits, scanned.hits, 'the same hit')
    t.ok(pruned.indexed)
    t.ok(pruned.scannedBytes * 10 < store.totalBytes, `read ${pruned.scannedBytes} of ${store.totalBytes} bytes`)
    // Every line once, wherever it lies: many straddle a block's edge or an entry's.
    let found = 0
    for (let i = 7; i < lines; i += 97) {
      const pattern = `request ${i} handled`
      const { hits } = await grep(store, all(store), { ...base, pattern, ignoreCase: i % 2 === 0 })
      if (hits.length === 1 && hits[0].text.includes(`"request ${i} handled`)) found++
    }
    t.equal(found, Math.ceil((lines - 7) / 97), 'each sampled line found by its number, and only it')

    const unproven = await grep(store, all(store), { ...base, pattern: '2345' })
    t.notOk(unproven.indexed, 'a bare fragment proves no token')
    t.ok(unproven.scannedBytes >= store.totalBytes * 0.9, 'and is answered by a scan')

    const word = await grep(store, all(store), { ...base, pattern: 'splittokenword', word: true })
    t.equal(word.hits.length, 1, 'a token cut across two entries is found by the filter')
    t.ok(word.scannedBytes < store.totalBytes / 4)
    t.equal((await grep(store, all(store), { ...base, pattern: 'splitto', word: true })).hits.length, 0,
      '-w: a fragment is not a word')

    const common = await grep(store, all(store), { ...base, pattern: '"error"', limit: 10_000 })
    const commonScan = await grep(store, all(store), { ...base, pattern: '"ERROR"', ignoreCase: true, regex: true })
    t.same(common.hits, commonScan.hits, `${common.hits.length} common hits, the same as a scan`)

    const trace = await buildTrace(store, 't4321', () => true)
    t.ok(trace && trace.lines >= 2, 'a trace is gathered from its blocks')
    t.same(trace!.sources, ['n/a/app.log', 'n/b/app.log'])
  })

t.test('the open segment\'s sidecar from a graceful stop is used, and not once the segment has grown past it',
  async t => {
    const { store, dir } = await fill(t)
    await store.close()
    const resumed = openStore(t, dir)
    const open = (s: Store): number => s.indexStats().indexedSegments
    t.equal(open(resumed), segments(dir).length, 'the open segments included')
    const q = { ...base, pattern: '"t4321"' }
    const before = (await grep(resumed, all(resumed), q)).hits
    // More lines after the stop, then a crash (no close): the next start finds a sidecar for a shorter segment.
    const line = '{"trace_id":"t4321","rpc_id":"9","msg":"after the restart"}\n'
    const offset = resumed.source('n/b/app.log')!.end
    await resumed.append([{ source: 'n/b/app.log', gen: 1, offset, timestamp: 3000, data: Buffer.from(line) }])
    const crashed = openStore(t, dir)
    t.equal(open(crashed), open(resumed) - 1, 'the open segment\'s stale sidecar is not used')
    const after = (await grep(crashed, all(crashed), q)).hits.map(h => h.text)
    t.ok(after.includes(line.trim()), 'the line written after the stop is found')
    t.same(after.filter(text => text !== line.trim()), before.map(h => h.text), 'and every line found before')
  })

t.test('a sidecar, read by its documented layout: the entry table with each entry\'s line and level counts',
  async t => {
    const { dir } = await fill(t)
    const idx = fs.readFileSync(path.join(dir, 'tenants/a/000000000002.idx'))
    t.equal(idx.toString('latin1', 0, 8), 'LOGFSIDX')
    t.equal(idx.readUInt32LE(8), 1, 'version 1')
    const [sources, entries, blocks] = [24, 28, 32].map(o => idx.readUInt32LE(o))
    let at = 52
    const section = (): Buffer => {
      const body = idx.subarray(at + 8, at + 8 + idx.readUInt32LE(at))
      at += 8 + body.length
      return body
    }
    const names = section()
    const table = section()
    t.equal(section().length, 4 * blocks)
    t.equal(sources, 1, 'one source of tenant a')
    t.match(names.toString('latin1'), /n\/a\/app\.log/)
    t.equal(table.length, 68 * entries)
    const seg = fs.readFileSync(path.join(dir, 'tenants/a/000000000002.seg'))
    t.equal(seg.length, idx.readDoubleLE(16), 'covers the whole segment')
    let lines = 0
    let errors = 0
    let counted = 0
    let counted4Errors = 0
    for (let o = 0; o < table.length; o += 68) {
      const data = seg.subarray(table.readDoubleLE(o + 32), table.readDoubleLE(o + 32) + table.readUInt32LE(o + 4))
      lines += data.toString().split('\n').length - 1
      errors += data.toString().split('"level":"error"').length - 1
      counted += table.readUInt32LE(o + 40)
      counted4Errors += table.readUInt32LE(o + 48)
    }
    t.ok(lines > 1000)
    t.equal(counted, lines, 'lines per entry')
    t.equal(counted4Errors, errors, 'error lines per entry (level words: fatal, error, …)')
  })

t.test('a missing or corrupt sidecar is rebuilt, answers unchanged meanwhile and after; retention removes them',
  async t => {
    const { store, dir } = await fill(t)
    const q = { ...base, pattern: '"t4321"', limit: 10_000 }
    const before = await grep(store, all(store), q)
    await store.close()
    const files = sidecars(dir)
    t.equal(files.length, segments(dir).length, 'a graceful stop wrote the open segments\' sidecars too')
    // Three sealed segments' sidecars (an open segment's is rebuilt only when it seals): tenant a's first two, and
    // b's first.
    const total = files.length
    files.splice(2, 1)
    const original = fs.readFileSync(files[1])
    fs.rmSync(files[0])
    // One byte of every 4 KiB page of the filter, the file's tail (rows × row bytes), so whichever rows a search
    // reads, it finds the damage.
    const bad = Buffer.from(original)
    const filterBytes = bad.readUInt32LE(36) * bad.readUInt32LE(44)
    for (let at = bad.length - filterBytes; at < bad.length; at += 4096) bad[at] ^= 0xff
    fs.writeFileSync(files[1], bad)
    fs.writeFileSync(files[2], fs.readFileSync(files[2]).subarray(0, 100))

    const reopened = openStore(t, dir)
    t.equal(reopened.indexStats().indexedSegments, total - 2,
      'the missing and the truncated sidecar are not used (filter pages are checked when first read)')
    const during = await grep(reopened, all(reopened), q)
    t.ok(during.indexed)
    t.same(during.hits, before.hits, 'answers while rebuilding, the corrupt filter found and not used')
    await reopened.indexed()
    t.equal(reopened.indexStats().indexedSegments, total, 'all rebuilt')
    t.same(fs.readFileSync(files[1]), original, 'the rebuilt sidecar is the one first written')
    t.same((await grep(reopened, all(reopened), q)).hits, before.hits, 'answers after')

    const count = reopened.segmentCount
    reopened.options.retentionBytes = reopened.totalBytes / 4
    reopened.applyRetention()
    t.ok(reopened.segmentCount < count, `retention removed segments (${count} → ${reopened.segmentCount})`)
    const left = segments(dir).map(f => f.replace('.seg', '.idx'))
    t.same(sidecars(dir), left, 'sidecars go with their segments (the open one has the one its last stop wrote)')
  })
