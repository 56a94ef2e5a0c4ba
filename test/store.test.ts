// The embedded store on a real directory: exactly-once, torn-tail recovery, retention.
import t, { type Test } from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { Store } from '../lib/store/disk/store'
import { parseCursor } from '../lib/store/source'
import { tempDir, run, startServer } from './helpers/cluster'
import { storeFiles } from '../lib/store/disk/layout'

type Limits = Partial<{ segmentBytes: number, retentionBytes: number, retentionMs: number }>
const open = (dir: string, extra: Limits = {}): Store =>
  Store.open({ dir, segmentBytes: 1024 * 1024, retentionBytes: 1e12, retentionMs: 0, ...extra })

const rec = (source: string, offset: number, text: string, gen = 1, timestamp = Date.now()) =>
  ({ source, gen, offset, timestamp, data: Buffer.from(text) })

t.test('resent and overlapping bytes are stored once; generations order a source', async t => {
  const store = open(tempDir(t, 'store'))
  t.teardown(() => store.close())
  t.same(await store.append([rec('n/a/x.log', 0, 'hello ')]), { stored: 6, duplicate: 0 })
  t.same(await store.append([rec('n/a/x.log', 0, 'hello world\n')]), { stored: 6, duplicate: 6 },
    'overlap: only the new part')
  t.same(await store.append([rec('n/a/x.log', 0, 'hello world\n')]), { stored: 0, duplicate: 12 },
    'full resend: nothing')
  await store.append([rec('n/a/x.log', 0, 'restarted\n', 2)])
  t.equal(store.read('n/a/x.log', null, 1000).data.toString(), 'hello world\nrestarted\n')
  const from = store.read('n/a/x.log', parseCursor('1:6'), 1000)
  t.equal(from.data.toString(), 'world\nrestarted\n', 'read from a cursor')
  t.same(from.next, { gen: 2, offset: 10 })
  t.equal(store.read('n/a/x.log', null, 4).data.toString(), 'hell', 'reads are bounded')
  t.throws(() => parseCursor('12'), /not a cursor/)
  t.throws(() => store.read('n/none', null, 10), /unknown source/)
})

/** Writes two lines, closes the store, lets `damage` hurt the newest segment as a crash would, and reopens. */
async function reopenDamaged (
  t: Test, lines: [string, string], damage: (segment: string) => void,
): Promise<{ store: Store, segment: string, good: number }> {
  const dir = tempDir(t, 'store')
  const first = open(dir)
  await first.append([rec('n/a/x.log', 0, lines[0])])
  await first.append([rec('n/a/x.log', lines[0].length, lines[1])])
  await first.close()
  const segment = storeFiles(dir, '.seg').pop()!
  const good = fs.statSync(segment).size
  damage(segment)
  const store = open(dir)
  t.teardown(() => store.close())
  return { store, segment, good }
}

t.test('a torn tail is cut on open; everything before it survives', async t => {
  // A crash in the middle of the next append: a length prefix promising more than was written.
  const { store, segment, good } = await reopenDamaged(t, ['first line\n', 'second line\n'],
    seg => fs.appendFileSync(seg, Buffer.from([200, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7])))
  t.equal(fs.statSync(segment).size, good, 'the torn entry is cut off')
  t.equal(store.read('n/a/x.log', null, 1000).data.toString(), 'first line\nsecond line\n')
  await store.append([rec('n/a/x.log', 23, 'third line\n')])
  t.equal(store.read('n/a/x.log', null, 1000).data.toString(), 'first line\nsecond line\nthird line\n',
    'appends go on after recovery')
})

t.test('a flipped bit in the newest segment is caught by its CRC', async t => {
  const { store } = await reopenDamaged(t, ['kept\n', 'corrupted\n'], seg => {
    const bytes = fs.readFileSync(seg)
    bytes[bytes.length - 3] ^= 0xff
    fs.writeFileSync(seg, bytes)
  })
  t.equal(store.read('n/a/x.log', null, 1000).data.toString(), 'kept\n', 'the damaged entry is dropped, the rest kept')
})

t.test('retention deletes whole old segments by size and by age, never the active one', async t => {
  const dir = tempDir(t, 'store')
  const store = open(dir, { segmentBytes: 1024 * 1024, retentionBytes: 3 * 1024 * 1024, retentionMs: 7 * 86400_000 })
  const chunk = 'y'.repeat(256 * 1024)
  for (let i = 0; i < 24; i++) {
    await store.append([rec('n/a/big.log', i * chunk.length, chunk, 1, Date.now() - 86400_000)])
  }
  t.ok(store.totalBytes <= 3 * 1024 * 1024 + 300 * 1024, `size limit holds (${store.totalBytes} bytes)`)
  const left = store.listSources(() => true)[0]
  t.ok(left.bytes < 24 * chunk.length && left.bytes > 0, 'the oldest bytes are gone, the newest kept')
  t.same(await store.append([rec('n/a/big.log', 0, chunk)]), { stored: 0, duplicate: chunk.length },
    'deleted bytes are still not taken twice')
  store.applyRetention(Date.now() + 86400_000 * 30)
  t.equal(storeFiles(dir, '.seg').length, 1, 'age: only the active segment is left')
  await store.close()
})

t.test('a source whose every byte retention removed still refuses its resends after a restart', async t => {
  const dir = tempDir(t, 'store')
  const store = open(dir, { segmentBytes: 1024 * 1024, retentionBytes: 2 * 1024 * 1024 })
  const chunk = 'z'.repeat(256 * 1024)
  await store.append([rec('n/old/a.log', 0, 'early bytes\n')])
  // Another source of the same tenant: retention counts a tenant's bytes, whichever source they belong to.
  for (let i = 0; i < 16; i++) await store.append([rec('n/old/b.log', i * chunk.length, chunk)])
  t.equal(store.read('n/old/a.log', null, 100).data.length, 0, 'retention removed all of n/old/a.log')
  await store.close()
  const reopened = open(dir)
  t.teardown(() => reopened.close())
  t.same(await reopened.append([rec('n/old/a.log', 0, 'early bytes\n')]), { stored: 0, duplicate: 12 },
    'its marks came back from marks.json')
  fs.rmSync(path.join(dir, 'marks.json'))
  await reopened.close()
  const amnesiac = open(dir)
  t.teardown(() => amnesiac.close())
  t.same(await amnesiac.append([rec('n/old/a.log', 0, 'early bytes\n')]), { stored: 12, duplicate: 0 },
    'without marks.json the resend would be stored again')
})

t.test('the server refuses to start without tokens, on a bad address, and prints errors', async t => {
  const noToken = run(['server', '--data-dir', tempDir(t, 'd'), '--listen', '127.0.0.1:0'],
    { env: { ...process.env, LOGFS_TOKEN: '' } })
  t.equal(await noToken.exited, 2)
  t.match(noToken.stderr, /no tokens configured/)
  const badListen = run(['server', '--data-dir', tempDir(t, 'd'), '--listen', 'nonsense'])
  t.equal(await badListen.exited, 2)
  t.match(badListen.stderr, /--listen: 'nonsense' is not HOST:PORT/)
  const busy = await startServer(t)
  const clash = run(['server', '--data-dir', tempDir(t, 'd'), '--listen', `127.0.0.1:${busy.port}`])
  t.equal(await clash.exited, 1)
  t.match(clash.stderr, /cannot listen on .*EADDRINUSE/)
})
