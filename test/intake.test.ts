// The intake in-process, through the native producer from the JS thread: what a write gets when its tenant's ring
// is full (block or drop policy), what a release lets in, what tenants get when the pool they borrow from is spent,
// and what a stop refuses. Writes that wait (a FUSE thread under the block policy: ticket order, failWaiting, a policy
// change letting waiters go) need threads; test/native/block_test.c covers them (test/native.test.ts runs it).
//
// The producer's "stop" flag is process-wide and cannot be cleared (native.close()), so the stop test is the last.
import t from 'tap'
import { FULL, Intake, type FullPolicy, type Tenant } from '../lib/ring/intake'
import { ENOSPC, EROFS } from '../lib/util/errno'
import { readRecords } from '../lib/ring/records'
import { openMemfd } from '../lib/ring/memfd'
import { NL } from '../lib/util/bytes'

const MiB = 1024 * 1024
const KiB = 1024

// The budget every Intake of this process shares: the first test spends it; the others give each tenant its whole
// ring as reserve, so that only a full ring makes them wait.
openMemfd(-1, MiB + MiB / 2, 4096)

function intake (policy: FullPolicy, reserve = MiB): Intake {
  return new Intake({ reserve, settings: () => ({ ringSize: MiB, policy }) })
}

t.test('shared budget: a tenant borrows past its reserve, a spent pool is a full ring, a release gives back',
  async t => {
  const ix = intake('block', 256 * KiB)
  const line = Buffer.from('z'.repeat(99) + '\n')
  const a = ix.source('flood/a.log')
  const b = ix.source('second/a.log')
  const flood = ix.tenants.get('flood')!
  const second = ix.tenants.get('second')!
  t.same(ix.pool, { bytes: MiB, free: MiB }, 'the pool: the budget less two reserves')
  while (ix.write(a, line) === 0) { /* fill */ }
  t.ok(flood.ring.free < 128, 'a tenant fills its ring to its cap by borrowing')
  t.equal(flood.stats.ringBorrowed, flood.ring.used - 256 * KiB, 'what it holds past its reserve is on loan')
  t.equal(ix.pool.free, MiB - flood.stats.ringBorrowed)
  let n = 0
  while (ix.write(b, line) === 0) n++
  t.ok(second.ring.used >= 512 * KiB - 128 && second.ring.used <= 512 * KiB,
    `the second borrows what is left and no more: it holds ${second.ring.used} of its 1 MiB ring`)
  t.ok(ix.pool.free < 128, 'the pool is spent')
  t.equal(ix.write(b, line), FULL, 'a spent pool answers FULL as a full ring does')
  t.equal(ix.write(a, line), FULL)

  const quiet = ix.source('quiet/a.log')
  let refused = 0
  for (let i = 0; i < 2000; i++) if (ix.write(quiet, line) !== 0) refused++
  t.equal(refused, 0, 'a new tenant writes 200 KB within its reserve while the pool is spent')
  t.ok(ix.pool.free < 0, 'its reserve came on top of the budget: the reserves now exceed it')
  t.equal(ix.tenants.get('quiet')!.stats.ringBorrowed, 0, 'and it borrowed nothing')

  ix.release(flood, flood.ring.head)
  t.equal(flood.stats.ringBorrowed, 0, 'a release gives back the whole loan')
  t.equal(ix.write(b, line), 0, 'and another tenant borrows it')
  t.equal(b.next, (n + 1) * line.length, 'every line went in')
  for (const ten of ix.tenants.values()) ix.release(ten, ten.ring.head)
  t.equal(ix.pool.free, MiB - 256 * KiB, 'all loans are back: the pool less the third reserve')
})

/** The ring's live records as [offset, data], copied, oldest first. */
function records (tenant: Tenant): Array<[number, Buffer]> {
  const ring = tenant.ring
  const out: Array<[number, Buffer]> = []
  readRecords(ring.data, ring.control, ring.tail, ring.head, r => out.push([r.offset, Buffer.from(r.data)]))
  return out
}

const newlines = (b: Uint8Array): number => b.reduce((n, x) => n + (x === NL ? 1 : 0), 0)

t.test('block: a full ring answers FULL on this thread, and a release makes room for the next write', async t => {
  const ix = intake('block')
  const src = ix.source('app/a.log')
  const line = Buffer.from('x'.repeat(99) + '\n')
  let accepted = 0
  let rc: number
  while ((rc = ix.write(src, line)) === 0) accepted++
  const ten = ix.tenants.get('app')!
  t.equal(rc, FULL, 'the write that did not fit: FULL, never a wait on the JS thread')
  t.equal(accepted, MiB / 128, 'each 100-byte write takes 128 bytes of ring (header, alignment)')
  t.equal(ten.ring.free, 0)
  t.equal(src.next, accepted * 100, 'a write that did not fit moved no cursor')
  t.equal(ten.stats.writes, accepted + 1)
  t.equal(ix.write(src, Buffer.from('\n')), FULL, 'not even one byte fits')
  t.equal(ten.stats.blockedWrites, 0, 'FULL is not a blocked write: nothing waits')
  t.equal(ten.stats.waiting, 0)
  t.equal(ten.waitingBytes, 0)
  t.equal(ix.pendingBytes(), MiB, 'pending: the ring, all of it')
  t.equal(ix.drained, false)
  t.equal(ten.stats.ringUsed, MiB)

  ix.release(ten, ten.ring.cut(ten.ring.tail, 10 * 128))
  t.equal(ten.ring.free, 10 * 128, 'a release frees whole records')
  t.equal(ix.write(src, line), 0, 'and the next write is accepted')
  t.equal(src.next, accepted * 100 + 100)
  const recs = records(ten)
  t.same(recs.slice(-2).map(([offset, data]) => [offset, data.length]),
    [[accepted * 100 - 100, 100], [accepted * 100, 100]], 'in the ring after what was there, at its cursor')
  t.equal(recs.length, accepted - 10 + 1)
  t.equal(ix.pendingBytes(), ten.ring.used)

  ix.release(ten, ten.ring.head)
  t.equal(ix.drained, true, 'drained once everything is released')
  t.equal(ix.pendingBytes(), 0)
  t.equal(ten.stats.bytesIn, accepted * 100 + 100)
  t.equal(ten.stats.linesIn, accepted + 1)
  t.equal(ten.stats.droppedBytes, 0)
  t.equal(ten.stats.ringBytes, MiB)
  t.equal(ten.stats.tenant, 'app')
})

t.test('lines in: newlines of accepted bytes, however a write is cut', async t => {
  const ix = intake('block')
  const src = ix.source('app/a.log')
  const writes = ['', 'no newline', '\n', 'one\n', 'a\nb', '\n\n\n', 'x\ny\nz\n', '\nlead']
  t.same(writes.map(w => ix.write(src, Buffer.from(w))), writes.map(() => 0))
  const big = Buffer.alloc(600_000, NL)
  t.equal(ix.write(src, big), 0, 'a write larger than one record goes in as several')
  const ten = ix.tenants.get('app')!
  const s = ten.stats
  t.equal(s.linesIn, writes.reduce((n, w) => n + newlines(Buffer.from(w)), 0) + big.length)
  t.equal(s.bytesIn, writes.join('').length + big.length)
  const recs = records(ten)
  const pieces = recs.filter(([offset]) => offset >= writes.join('').length)
  t.equal(recs.length, writes.filter(w => w !== '').length + 3, 'an empty write adds no record')
  t.equal(pieces.length, 3, 'the large write: three records (a record holds at most a quarter of the ring)')
  t.equal(pieces.reduce((n, [, d]) => n + d.length, 0), big.length)
  const small = writes.join('')
  t.equal(Buffer.concat(recs.map(([, d]) => d)).toString('latin1', 0, small.length), small, 'in order')
})

t.test('drop: a full ring drops whole lines and counts every dropped byte', async t => {
  const ix = intake('drop')
  const src = ix.source('app/a.log')
  const ten = (): Tenant => ix.tenants.get('app')!
  /** [bytes in, dropped bytes] so far. */
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
  t.equal(s.writes, writes, 'writes')
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

t.test('drop: a started line finishes in the reserve, the rest of a cut line is dropped too', async t => {
  const ix = intake('drop')
  const a = ix.source('app/a.log')
  const line = Buffer.from('l'.repeat(99) + '\n')
  const ten = ix.tenants.get('app')!
  let accepted = 0
  while (ten.stats.droppedBytes === 0) if (ix.write(a, line) === 0 && ten.stats.droppedBytes === 0) accepted++
  const reserve = MiB / 16
  t.equal(accepted, (MiB - reserve) / 128, 'whole 100-byte lines until only the reserve is left')
  t.equal(ten.stats.droppedBytes, 100, 'the next one is dropped')
  t.equal(ten.ring.free, reserve, 'new lines stop where the reserve begins')
  // A line starts while there is room, then its end arrives with a new line behind it in the same write.
  ix.release(ten, ten.ring.cut(ten.ring.tail, 2 * 128))
  t.equal(ix.write(a, Buffer.from('started, ')), 0)
  const before = ten.stats
  t.equal(ix.write(a, Buffer.from('finished\n' + 'n'.repeat(reserve) + '\n')), 0)
  const after = ten.stats
  t.equal(after.bytesIn - before.bytesIn, 'finished\n'.length, 'the end of the started line went in')
  t.equal(after.droppedBytes - before.droppedBytes, reserve + 1, 'the new line did not')
  t.equal(after.droppedWrites - before.droppedWrites, 1)
  // A new line that does not fit: its start is dropped, and so is its rest in the next write.
  const b = ix.source('app/b.log')
  t.equal(ix.write(b, Buffer.alloc(reserve, 0x62)), 0)
  t.equal(ten.stats.droppedBytes - after.droppedBytes, reserve, 'a new line that does not fit is dropped')
  ix.release(ten, ten.ring.head)
  t.equal(ix.write(b, Buffer.from('rest of it\nnext\n')), 0)
  t.equal(ten.stats.droppedBytes - after.droppedBytes, reserve + 'rest of it\n'.length,
    'its rest is dropped even with room again')
  t.same(records(ten).map(([offset, data]) => [offset, data.toString()]),
    [[reserve + 'rest of it\n'.length, 'next\n']], 'the next line goes in, at its cursor')
  t.equal(b.next, reserve + 'rest of it\nnext\n'.length)
})

t.test('updatePolicies: a tenant switched to drop drops instead of answering FULL, and back', async t => {
  const policies = new Map<string, FullPolicy>([['app', 'block'], ['web', 'block']])
  const ix = new Intake({ reserve: MiB, settings: name => ({ ringSize: MiB, policy: policies.get(name)! }) })
  const src = ix.source('app/a.log')
  const web = ix.source('web/a.log')
  const line = Buffer.from('y'.repeat(99) + '\n')
  while (ix.write(src, line) === 0) { /* fill */ }
  const ten = ix.tenants.get('app')!
  t.equal(ix.write(src, line), FULL)
  policies.set('app', 'drop')
  ix.updatePolicies()
  t.equal(ten.policy, 'drop')
  t.equal(ix.tenants.get('web')!.policy, 'block', 'the other tenant keeps its policy')
  const dropped = ten.stats.droppedBytes
  t.equal(ix.write(src, line), 0, 'drop answers 0')
  t.equal(ten.stats.droppedBytes - dropped, 100, 'the line was dropped')
  t.equal(src.next, (ten.stats.bytesIn) + ten.stats.droppedBytes, 'and the cursor moved past it')
  policies.set('app', 'block')
  ix.updatePolicies()
  t.equal(ix.write(src, line), FULL, 'block again')
  ix.release(ten, ten.ring.head)
  t.equal(ix.write(src, line), 0)
  t.equal(ix.write(web, line), 0)
})

t.test('no ring: a tenant whose ring the memfd has no room for gets ENOSPC on its writes', async t => {
  // The memfd's address space for rings is 256 GiB: only a ring larger than that finds no room.
  const ringSize = (name: string): number => name === 'first' ? MiB : 512 * 1024 * MiB
  const ix = new Intake({ reserve: MiB, settings: name => ({ ringSize: ringSize(name), policy: 'block' }) })
  const refused: string[] = []
  ix.onNoRing = tenant => refused.push(tenant)
  const line = Buffer.from('hello\n')
  t.equal(ix.write(ix.source('first/a.log'), line), 0)
  t.equal(ix.write(ix.source('second/a.log'), line), ENOSPC, 'no room for a 512 GiB ring')
  t.equal(ix.write(ix.source('second/b.log'), line), ENOSPC)
  t.equal(ix.write(ix.source('top.log'), line), ENOSPC, 'files at the top belong to tenant default')
  t.equal(ix.write(ix.source('second/a.log'), line), ENOSPC, 'the same source again')
  t.same(refused, ['second', 'default'], 'each refused tenant is reported once')
  t.same([...ix.tenants.keys()], ['first'])
  t.equal(ix.write(ix.source('first/b.log'), line), 0, 'the tenant with a ring keeps working')
  t.equal(ix.source('second/a.log').next, 0, 'a refused write moves no cursor')
})

t.test('sources and names: one source per path, ids to paths for a batch', async t => {
  const ix = intake('block')
  const a = ix.source('app/a.log')
  const b = ix.source('app/sub/b.log')
  const c = ix.source('web/c.log')
  t.equal(ix.source('app/a.log'), a, 'the same object for the same path')
  t.same([a.tenant, b.tenant, c.tenant], ['app', 'app', 'web'])
  t.not(a.id, b.id)
  t.equal(ix.write(a, Buffer.from('one\n')), 0)
  t.equal(ix.write(b, Buffer.from('two\n')), 0)
  t.equal(ix.source('app/a.log').next, 4, 'the cursor lives with the source')
  const ten = ix.tenants.get('app')!
  const ids = new Set<number>()
  ten.ring.cut(ten.ring.tail, MiB, ids)
  t.same(ix.names(ids), [[a.id, 'app/a.log'], [b.id, 'app/sub/b.log']], 'the names of the sources in a cut')
  const other = intake('block').source('other/x.log')
  t.same(ix.names([c.id, other.id]), [[c.id, 'web/c.log']], 'ids of another intake are not this one\'s names')
})

t.test('whenAcked: done once everything accepted when asked is acknowledged', async t => {
  const ix = intake('block')
  const done: string[] = []
  ix.whenAcked('nobody', () => done.push('no tenant'))
  t.same(done, ['no tenant'], 'a tenant without a ring has nothing to wait for')
  const src = ix.source('app/a.log')
  t.equal(ix.write(src, Buffer.from('first\n')), 0)
  const ten = ix.tenants.get('app')!
  const firstEnd = ten.ring.head
  ix.whenAcked('app', () => done.push('first'))
  t.equal(ix.write(src, Buffer.from('second\n')), 0)
  ix.whenAcked('app', () => done.push('second'))
  t.same(done, ['no tenant'], 'nothing acknowledged yet')
  ix.release(ten, firstEnd)
  t.same(done, ['no tenant', 'first'], 'a release past the head when asked answers it; later writes do not delay it')
  ix.release(ten, ten.ring.head)
  t.same(done, ['no tenant', 'first', 'second'])
  ix.whenAcked('app', () => done.push('empty'))
  t.equal(done.at(-1), 'empty', 'an empty ring answers at once')
})

t.test('announced: onData hears of each tenant that got bytes since its last cut', async t => {
  const ix = intake('block')
  const heard: string[] = []
  ix.onData = ten => heard.push(ten.name)
  const a = ix.source('app/a.log')
  ix.source('web/a.log')
  t.ok(ix.tenants.has('web'), 'a second tenant with a ring')
  t.equal(ix.write(a, Buffer.from('x\n')), 0)
  ix.announced()
  t.same(heard, ['app'], 'only the tenant whose ring got bytes')
  const ten = ix.tenants.get('app')!
  t.equal(ten.ring.announced, true)
  ten.ring.clearAnnouncement()
  ix.announced()
  t.same(heard, ['app'], 'cleared by the cut: not again')
  t.equal(ix.write(a, Buffer.from('y\n')), 0)
  ix.announced()
  t.same(heard, ['app', 'app'], 'announced again after new bytes')
})

// Last: the stop is process-wide (see the top of the file).
t.test('stop: a started line may finish, new lines are refused with EROFS', async t => {
  const ix = intake('block')
  const src = ix.source('app/a.log')
  const whole = ix.source('app/b.log')
  t.equal(ix.write(src, Buffer.from('first half of a line, ')), 0)
  t.equal(ix.write(whole, Buffer.from('a whole line\n')), 0)
  const ten = ix.tenants.get('app')!
  const writes = ten.stats.writes
  ix.close()
  t.equal(ix.write(whole, Buffer.from('a new line\n')), EROFS, 'closed: no new line')
  t.equal(ten.stats.writes, writes, 'a refused write is not counted')
  t.equal(ix.write(src, Buffer.from('second half\n')), 0, 'the rest of the started line goes in')
  t.equal(ix.write(src, Buffer.from('a new line\n')), EROFS, 'a new line after it does not')
  t.equal(ix.write(ix.source('app/c.log'), Buffer.from('x')), EROFS, 'nor does a new source')
  t.equal(ten.stats.linesIn, 2)
  t.same(records(ten).map(([, d]) => d.toString()), ['first half of a line, ', 'a whole line\n', 'second half\n'])
  ix.failWaiting(EROFS)
  t.equal(ten.stats.waiting, 0, 'failWaiting with nobody waiting changes nothing')
  ix.release(ten, ten.ring.head)
  t.equal(ix.drained, true)
})
