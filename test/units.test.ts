// Pure parts: the ring's record layout and wrap-around (filled by the native producer), globs and flag parsing.
// The tail buffer moved to C with the write path: test/native/tail_test.c tests it.
import t from 'tap'
import { Ring } from '../lib/ring/ring'
import { readRecords } from '../lib/ring/records'
import { claimMemfd } from '../lib/ring/memfd'
import { native } from '../lib/native/fuse/native'
import { globToRegExp } from '../lib/util/glob'
import { parseDuration, parseSize } from '../lib/util/units'
import { DEFAULT_NO_SHIP } from '../lib/fs/ops'

const MiB = 1024 * 1024

/** A ring registered with the native producer (block policy), and `n` sources writing into it. */
let rings = 0

function producer (n: number): { ring: Ring, sources: number[] } {
  claimMemfd()
  const name = `units-${rings++}`
  const ring = Ring.create(name, MiB, MiB, native.constants.policy.block)
  if (!ring) throw new Error('no room for a ring in the memfd')
  return { ring, sources: Array.from({ length: n }, (_, i) => native.sourceNew(ring.index, `${name}/s${i}.log`)) }
}

t.test('ring: records survive wrap-around and come back in order', async t => {
  const { ring, sources } = producer(2)
  const written = new Map(sources.map(id => [id, 0]))
  const read = new Map(sources.map(id => [id, 0]))
  let total = 0
  for (let round = 0; round < 50; round++) {
    const start = ring.tail
    const sizes: number[] = []
    const from: number[] = []
    for (;;) {
      const size = 1 + ((round * 7919 + sizes.length * 104729) % 70000)
      const bytes = Buffer.alloc(size, (round + sizes.length) & 0xff)
      const id = sources[sizes.length % 2]
      const rc = native.write(id, bytes)
      if (rc === native.constants.ring.full) break
      if (rc !== 0) throw new Error(`write answered ${rc}`)
      sizes.push(size)
      from.push(id)
      written.set(id, written.get(id)! + size)
      total += size
    }
    t.ok(sizes.length > 0)
    const seen = new Set<number>()
    const end = ring.cut(start, 1e9, seen)
    t.equal(end, ring.head)
    if (sizes.length > 1 && seen.size !== 2) t.fail(`round ${round}: cut saw sources ${[...seen]}`)
    let i = 0
    readRecords(ring.data, ring.control, start, end, r => {
      const fill = (round + i) & 0xff
      if (r.sourceId !== from[i] || r.offset !== read.get(r.sourceId) || r.data.length !== sizes[i] ||
        r.data[0] !== fill || r.data[r.data.length - 1] !== fill) {
        t.fail(`round ${round}: record ${i} is wrong`)
      }
      read.set(r.sourceId, r.offset + r.data.length)
      i++
    })
    if (i !== sizes.length) t.fail(`round ${round}: read ${i} of ${sizes.length} records`)
    ring.release(end)
  }
  t.same(read, written, 'every byte read back exactly once, in order, at its source\'s cursor')
  t.same(sources.map(id => native.sourceNext(id)), sources.map(id => written.get(id)), 'the cursors')
  t.ok(total > 40 * MiB, 'the ring wrapped around many times')
  t.throws(() => readRecords(ring.data, ring.control, ring.tail - 8, ring.tail, () => {}), /not inside the live range/,
    'a freed range cannot be read')
})

t.test('ring: cut respects the batch size and never splits a record', async t => {
  const { ring, sources: [a, b] } = producer(2)
  for (let i = 0; i < 100; i++) t.equal(native.write(i % 2 ? b : a, Buffer.alloc(1000)), 0)
  const seen = new Set<number>()
  const end = ring.cut(0, 10 * 1024, seen)
  t.equal(end, 10 * 1024 - (10 * 1024) % 1024, 'ten 1 KiB records (1000 bytes + 24 header, aligned)')
  t.same([...seen].sort(), [a, b].sort(), 'the sources of the records cut')
  const first = new Set<number>()
  t.equal(ring.cut(0, 10, first), 1024, 'always at least one record')
  t.same([...first], [a], 'only the sources of the records cut')
  t.equal(ring.cut(ring.head, 10), ring.head, 'nothing to cut at the head')
})

t.test('globs and flag parsing', async t => {
  const rotated = DEFAULT_NO_SHIP.map(globToRegExp)
  for (const name of ['ns/app.log.1', 'a/b/app.log.12', 'x/app.log.2.gz', 'top.log.1']) {
    t.ok(rotated.some(r => r.test(name)), `${name} is a rotated copy`)
  }
  for (const name of ['ns/app.log', 'ns/app-2026-11-23.log', 'a/b/access_log']) {
    t.notOk(rotated.some(r => r.test(name)), `${name} is shipped`)
  }
  t.ok(globToRegExp('prod/*/app.log').test('prod/x/app.log'))
  t.notOk(globToRegExp('prod/*/app.log').test('prod/x/y/app.log'))
  t.ok(globToRegExp('prod/**').test('prod/x/y/app.log'))
  t.ok(globToRegExp('prod/**').test('prod/x/new\nline.log'), '** crosses a newline in a name')
  t.ok(rotated.some(r => r.test('ns/a\nb.log.1')), 'a rotated copy with a newline in its name is still a rotated copy')
  t.equal(parseSize('256MiB'), 256 * 1024 * 1024)
  t.equal(parseSize('10GB'), 10e9)
  t.equal(parseSize('4096'), 4096)
  t.throws(() => parseSize('ten'), /not a size/)
  t.equal(parseDuration('7d'), 7 * 86400_000)
  t.equal(parseDuration('500ms'), 500)
  t.equal(parseDuration('30'), 30_000)
  t.throws(() => parseDuration('1 fortnight'), /not a duration/)
})
