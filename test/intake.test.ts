// The intake in-process: what a write gets when its tenant's ring is full (block or drop policy), what a release
// lets in, and what a tenant gets when the memory budget is spent.
import t from 'tap'
import { ENOSPC, EROFS, FULL, Intake, type FullPolicy, type Tenant } from '../lib/ring/intake'
import { readRecords } from '../lib/ring/ring'
import { NL } from '../lib/util/bytes'

const MiB = 1024 * 1024

function intake (policy: FullPolicy, memory = MiB): Intake {
  return new Intake({ memory, settings: () => ({ ringSize: MiB, policy }) })
}

/** The ring's live records as [offset, data], copied, oldest first. */
function records (tenant: Tenant): Array<[number, Buffer]> {
  const ring = tenant.ring
  ring.cut(ring.tail, Infinity)
  const out: Array<[number, Buffer]> = []
  readRecords(ring.data, ring.control, ring.tail, ring.head, r => out.push([r.offset, Buffer.from(r.data)]))
  return out
}

const newlines = (b: Uint8Array): number => b.reduce((n, x) => n + (x === NL ? 1 : 0), 0)

t.test('block: a full ring makes writes wait, in order, until a release frees space', async t => {
  const ix = intake('block')
  const src = ix.source('app/a.log')
  const line = Buffer.from('x'.repeat(99) + '\n')
  let accepted = 0
  while (ix.write(src, line) === 0) accepted++
  const ten = ix.tenants.get('app')!
  t.equal(accepted, MiB / 128, 'each 100-byte write takes 128 bytes of ring (header, alignment)')
  t.equal(ten.ring.free, 0)
  t.equal(src.next, accepted * 100, 'a write that did not fit moved no cursor')
  t.equal(ten.stats.writes, accepted + 1)

  const done: string[] = []
  ix.wait(src, line, errno => done.push(`first ${errno}`))
  const small = Buffer.from('\n')
  t.equal(ix.write(src, small), FULL, 'a write behind a waiting one waits too, even one that would fit')
  ix.wait(src, small, errno => done.push(`second ${errno}`))
  t.equal(ten.stats.blockedWrites, 2)
  t.equal(ten.stats.waiting, 2)
  t.equal(ix.pendingBytes(), ten.ring.used + 101, 'waiting bytes count as pending')
  t.same(done, [], 'nothing is answered before space is freed')

  ix.release(ten, ten.ring.cut(ten.ring.tail, 10 * 128))
  t.same(done, ['first 0', 'second 0'], 'a release lets the waiting writes in, oldest first')
  t.equal(ten.stats.waiting, 0)
  t.equal(src.next, accepted * 100 + 101)
  const recs = records(ten)
  t.same(recs.slice(-2).map(([offset, data]) => [offset, data.length]),
    [[accepted * 100, 100], [accepted * 100 + 100, 1]], 'in the ring after what was there, at their cursors')
  t.equal(ten.stats.ringUsed, ten.ring.used)

  ix.release(ten, ten.ring.head)
  t.equal(ix.drained, true)
  t.equal(ten.stats.bytesIn, accepted * 100 + 101)
  t.equal(ten.stats.linesIn, accepted + 2)
})

t.test('block: a stop fails writes that still wait, and refuses new ones', async t => {
  const ix = intake('block')
  const src = ix.source('app/a.log')
  const big = Buffer.alloc(200_000, 0x61)
  big[big.length - 1] = NL
  let accepted = 0
  while (ix.write(src, big) === 0) accepted++
  t.equal(accepted, 5, 'five 200 kB writes fill a 1 MiB ring')
  let answer: number | null = null
  ix.wait(src, big, errno => { answer = errno })
  ix.close()
  t.equal(ix.write(src, big), EROFS, 'closed: no new writes')
  ix.failWaiting(EROFS)
  t.equal(answer, EROFS, 'the waiting write is answered with the errno')
  t.equal(ix.tenants.get('app')!.stats.waiting, 0)
})

t.test('a stop lets a started line finish: the kernel may have split its write() in two', async t => {
  const ix = intake('block')
  const src = ix.source('app/a.log')
  t.equal(ix.write(src, Buffer.from('first half of a line, ')), 0)
  ix.close()
  t.equal(ix.write(src, Buffer.from('second half\n')), 0, 'the rest of the line goes in')
  t.equal(ix.write(src, Buffer.from('a new line\n')), EROFS, 'a new line does not')
  const other = ix.source('app/b.log')
  t.equal(ix.write(other, Buffer.from('x')), EROFS, 'nor does a source whose last line was whole')
  t.equal(ix.tenants.get('app')!.stats.linesIn, 1)
})

t.test('drop: a full ring drops whole lines and counts every dropped byte', async t => {
  const ix = intake('drop')
  const src = ix.source('app/a.log')
  const ten = (): Tenant => ix.tenants.get('app')!
  /** [bytes in, dropped bytes] so far: numbers, not the live stats object. */
  const counts = (): [number, number] => {
    const s = ix.tenants.get('app')?.stats
    return [s?.bytesIn ?? 0, s?.droppedBytes ?? 0]
  }
  // 100-byte lines, written in 77-byte pieces as the kernel may split them: many writes end inside a line.
  const LINE = 100
  const stream = Buffer.alloc(42_000 * LINE)
  for (let i = 0; i < stream.length; i += LINE) {
    stream.write(String(i / LINE).padStart(9, '0'), i, 'latin1')
    stream.fill(0x2e, i + 9, i + LINE - 1)
    stream[i + LINE - 1] = NL
  }
  const kept: Array<[number, Buffer]> = []
  let writes = 0
  let refused = 0
  let cut = 0
  let dropping = 0
  for (let at = 0; at < stream.length; at += 77) {
    const [inBefore, droppedBefore] = counts()
    if (ix.write(src, stream.subarray(at, at + 77)) !== 0) refused++
    writes++
    const [inAfter, droppedAfter] = counts()
    if (droppedAfter > droppedBefore) dropping++
    if (droppedAfter > droppedBefore && inAfter > inBefore) cut++
    // The server acknowledges now and then, after the ring has overflowed.
    if (writes % 25_000 === 0) {
      kept.push(...records(ten()))
      ix.release(ten(), ten().ring.head)
    }
  }
  kept.push(...records(ten()))
  t.equal(refused, 0, 'under the drop policy every write is answered 0 at once')
  const s = ten().stats
  t.ok(s.droppedBytes > MiB, `${s.droppedBytes} bytes dropped`)
  t.equal(s.bytesIn + s.droppedBytes, stream.length, 'every byte is either in the ring or counted as dropped')
  t.equal(src.next, stream.length, 'the cursor counts dropped bytes too')
  t.equal(s.droppedWrites, dropping, 'a write counts once as dropped, whether it lost some bytes or all')
  t.ok(cut > 0, `${cut} writes finished a started line (in the reserve) and lost the rest`)

  // Whatever arrives is whole lines at their own offsets; what is missing is exactly what was counted as dropped.
  let end = 0
  let gaps = 0
  let brokenRuns = 0
  let wrongBytes = 0
  let lines = 0
  for (const [offset, data] of kept) {
    if (offset !== end) {
      gaps += offset - end
      if (offset % LINE !== 0 || end % LINE !== 0) brokenRuns++
    }
    if (!data.equals(stream.subarray(offset, offset + data.length))) wrongBytes++
    lines += newlines(data)
    end = offset + data.length
  }
  gaps += stream.length - end
  t.equal(brokenRuns, 0, 'every gap starts and ends at a line boundary')
  t.equal(wrongBytes, 0, 'every kept byte is where the cursor says')
  t.equal(gaps, s.droppedBytes, 'the cursor gaps add up to the dropped bytes')
  t.equal(s.linesIn, lines, 'lines in counts the newlines that entered the ring')
  t.equal(s.blockedWrites, 0, 'drop never blocks')
})

t.test('lines in: newlines of accepted bytes, however a write is cut', async t => {
  const ix = intake('block')
  const src = ix.source('app/a.log')
  const writes = ['', 'no newline', '\n', 'one\n', 'a\nb', '\n\n\n', 'x\ny\nz\n', '\nlead']
  t.same(writes.map(w => ix.write(src, Buffer.from(w))), writes.map(() => 0))
  const big = Buffer.alloc(600_000, NL)
  t.equal(ix.write(src, big), 0, 'a write larger than one record goes in as several')
  const s = ix.tenants.get('app')!.stats
  t.equal(s.linesIn, writes.reduce((n, w) => n + newlines(Buffer.from(w)), 0) + big.length)
  t.equal(s.bytesIn, writes.join('').length + big.length)
})

t.test('memory budget: a tenant that finds it spent gets no ring, and its writes get ENOSPC', async t => {
  const ix = intake('block', MiB + MiB / 2)
  const refused: string[] = []
  ix.onNoRing = tenant => refused.push(tenant)
  const line = Buffer.from('hello\n')
  t.equal(ix.write(ix.source('first/a.log'), line), 0)
  t.equal(ix.write(ix.source('second/a.log'), line), ENOSPC, 'no room for a second 1 MiB ring')
  t.equal(ix.write(ix.source('second/b.log'), line), ENOSPC)
  t.equal(ix.write(ix.source('top.log'), line), ENOSPC, 'files at the top belong to tenant default')
  t.same(refused, ['second', 'default'], 'each refused tenant is reported once')
  t.same([...ix.tenants.keys()], ['first'])
  t.equal(ix.allocated, MiB)
  t.equal(ix.write(ix.source('first/b.log'), line), 0, 'the tenant with a ring keeps working')
})
