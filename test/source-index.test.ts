// One source's index in-process: extents in cursor order (generation first) however they arrive, the logical
// position space queries walk, and retention. The extents point into a real temporary segment file.
import t from 'tap'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { SourceIndex } from '../lib/store/source'
import { segmentReader, type SegmentExtent } from '../lib/store/disk/segment-reader'
import type { Segment } from '../lib/store/disk/segments'

/** A source's index reading segment files, as the embedded store keeps it. */
const index = (source: string, node: string, tenant: string): SourceIndex<SegmentExtent> =>
  new SourceIndex(source, node, tenant, segmentReader)

interface Teardown { teardown: (fn: () => unknown) => void }

/** A segment file holding `text`, open for reading as the store holds it. */
function segment (t: Teardown, text: string): Segment {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'logfs-test-source-index-'))
  fs.writeFileSync(path.join(dir, 'seg'), text)
  const fd = fs.openSync(path.join(dir, 'seg'), 'r')
  t.teardown(() => {
    fs.closeSync(fd)
    fs.rmSync(dir, { recursive: true, force: true })
  })
  return { id: 1, fd, file: path.join(dir, 'seg'), size: text.length, newest: 0 }
}

// Segment bytes by extent: gen 1 (a dropped gap between offsets 15 and 20), gen 3, then gen 2 arriving last.
const SEGMENT = '0123456789' + 'abcde' + 'fghij' + 'WXYZ' + 'pqr'

function extents (seg: Segment): Record<string, SegmentExtent> {
  // The source an extent belongs to only matters to the store's segment indexes, which these tests do not use.
  const src = index('node-1/shop/app.log', 'node-1', 'shop')
  return {
    first: { gen: 1, offset: 0, length: 10, timestamp: 1000, seg, at: 0, src },
    second: { gen: 1, offset: 10, length: 5, timestamp: 2000, seg, at: 10, src },
    afterGap: { gen: 1, offset: 20, length: 5, timestamp: 3000, seg, at: 15, src },
    newerGen: { gen: 3, offset: 0, length: 4, timestamp: 4000, seg, at: 20, src },
    olderGen: { gen: 2, offset: 0, length: 3, timestamp: 3500, seg, at: 24, src },
  }
}

function inOrder (t: Teardown): { ix: SourceIndex<SegmentExtent>, e: Record<string, SegmentExtent> } {
  const e = extents(segment(t, SEGMENT))
  const ix = index('node-1/shop/app.log', 'node-1', 'shop')
  for (const x of [e.first, e.second, e.afterGap, e.newerGen]) ix.add(x)
  return { ix, e }
}

const text = (ix: SourceIndex, from: number, to: number): string => ix.read(from, to).toString('latin1')

t.test('extents added in order: positions, cursors, times and reads', async t => {
  const { ix } = inOrder(t)
  t.equal(ix.end, 24, 'the logical length is every retained byte, gaps left out')
  t.same([...ix.high], [[1, 25], [3, 4]], 'per generation, the offset past its highest byte')
  t.equal(ix.lastWrite, 4000)

  t.equal(ix.logicalOf({ gen: 1, offset: 0 }), 0)
  t.equal(ix.logicalOf({ gen: 1, offset: 12 }), 12)
  t.equal(ix.logicalOf({ gen: 1, offset: 20 }), 15, 'the first byte after the gap follows the last before it')
  t.equal(ix.logicalOf({ gen: 1, offset: 17 }), null, 'a dropped byte has no position')
  t.equal(ix.logicalOf({ gen: 1, offset: 25 }), null, 'past the end of an older generation is not a position')
  t.equal(ix.logicalOf({ gen: 3, offset: 4 }), 24, 'just past the newest byte is the end, where a follower starts')
  t.equal(ix.logicalOf({ gen: 3, offset: 5 }), null)
  t.equal(ix.logicalOf({ gen: 2, offset: 0 }), null, 'a generation with no bytes')

  t.equal(ix.positionAtOrAfter({ gen: 1, offset: 3 }), 3)
  t.equal(ix.positionAtOrAfter({ gen: 1, offset: 17 }), 15, 'a dropped byte: the next retained one')
  t.equal(ix.positionAtOrAfter({ gen: 1, offset: 100 }), 20, 'past a generation: the next generation')
  t.equal(ix.positionAtOrAfter({ gen: 0, offset: 9 }), 0, 'before everything: the start')
  t.equal(ix.positionAtOrAfter({ gen: 4, offset: 0 }), 24, 'after everything: the end')

  t.same(ix.cursorAt(0), { gen: 1, offset: 0 })
  t.same(ix.cursorAt(12), { gen: 1, offset: 12 })
  t.same(ix.cursorAt(15), { gen: 1, offset: 20 })
  t.same(ix.cursorAt(22), { gen: 3, offset: 2 })
  t.same(ix.cursorAt(24), { gen: 3, offset: 4 }, 'the end is the cursor past the newest byte')
  t.same(index('n/a', 'n', 'a').cursorAt(0), { gen: 0, offset: 0 }, 'an empty source starts at 0:0')

  t.equal(ix.positionAtTime(0), 0)
  t.equal(ix.positionAtTime(2000), 10, 'an extent written at the time counts')
  t.equal(ix.positionAtTime(2500), 15)
  t.equal(ix.positionAtTime(4000), 20)
  t.equal(ix.positionAtTime(4001), 24, 'after the newest write: the end')
  t.equal(ix.timestampAt(16), 3000)

  t.equal(text(ix, 0, 24), '0123456789abcdefghijWXYZ')
  t.equal(text(ix, 8, 17), '89abcdefg', 'a read across extents (and the gap)')
  t.equal(text(ix, -5, 3), '012', 'clamped at the start')
  t.equal(text(ix, 21, 100), 'XYZ', 'clamped at the end')
  t.equal(text(ix, 5, 5), '')
})

t.test('an older generation after a newer one goes before it', async t => {
  const { ix, e } = inOrder(t)
  ix.add(e.olderGen)
  t.same(ix.extents.map(x => `${x.gen}:${x.offset}`), ['1:0', '1:10', '1:20', '2:0', '3:0'], 'cursor order')
  t.equal(ix.end, 27)
  t.equal(ix.logicalOf({ gen: 2, offset: 1 }), 21)
  t.equal(ix.logicalOf({ gen: 3, offset: 0 }), 23, 'what came after the insertion point moved')
  t.equal(ix.logicalOf({ gen: 3, offset: 4 }), 27)
  t.same(ix.cursorAt(20), { gen: 2, offset: 0 })
  t.equal(ix.positionAtOrAfter({ gen: 1, offset: 100 }), 20, 'past generation 1 is generation 2 now')
  t.equal(text(ix, 0, 27), '0123456789abcdefghijpqrWXYZ')
  t.same([...ix.high].sort(), [[1, 25], [2, 3], [3, 4]])
  t.equal(ix.lastWrite, 4000, 'the newest write stays the newest')
})

t.test('retain drops what retention removed and renumbers the rest', async t => {
  const { ix, e } = inOrder(t)
  ix.add(e.olderGen)
  const before = ix.extents.slice()
  ix.retain(() => true)
  t.same(ix.extents, before, 'keeping everything changes nothing')
  t.equal(ix.end, 27)

  ix.retain(x => x.timestamp >= 2000)
  t.equal(ix.extents.length, 4)
  t.equal(ix.end, 17)
  t.equal(ix.logicalOf({ gen: 1, offset: 0 }), null, 'removed bytes have no position')
  t.equal(ix.logicalOf({ gen: 1, offset: 10 }), 0, 'the oldest retained byte is the start')
  t.same(ix.cursorAt(0), { gen: 1, offset: 10 })
  t.equal(ix.positionAtOrAfter({ gen: 1, offset: 0 }), 0, 'a removed cursor: the oldest retained byte')
  t.equal(ix.positionAtTime(0), 0)
  t.equal(text(ix, 0, 17), 'abcdefghijpqrWXYZ')
  t.equal(text(ix, 4, 6), 'ef')
})
