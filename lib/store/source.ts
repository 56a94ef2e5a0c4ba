// One source's index: its entries in cursor order, and a logical position space (the source's retained bytes
// laid end to end) that queries use to read windows, walk lines and step across entries and generations.
import fs from 'node:fs'
import { promisify } from 'node:util'

/** A position in a source: records are ordered by agent generation first, then byte offset. */
export interface Cursor { gen: number, offset: number }

export function formatCursor (c: Cursor): string { return `${c.gen}:${c.offset}` }

export function parseCursor (text: string): Cursor {
  const m = /^(\d+):(\d+)$/.exec(text)
  if (!m) throw new Error(`'${text}' is not a cursor (expected GEN:OFFSET, e.g. 1732330000000:4096)`)
  return { gen: Number(m[1]), offset: Number(m[2]) }
}

export interface SegmentRef { id: number, fd: number }

export interface Extent { gen: number, offset: number, length: number, timestamp: number, seg: SegmentRef, at: number }

const before = (a: Cursor, b: Cursor): boolean => a.gen < b.gen || (a.gen === b.gen && a.offset < b.offset)

const pread = promisify(fs.read)

/**
 * Pieces of one asynchronous read that lie this close in one segment are read with one call: a source shipped in
 * small batches has thousands of tiny extents per window, and a threadpool round trip costs more than the bytes
 * between them. One call spans at most SPAN bytes of a segment.
 */
const GAP = 16 * 1024
const SPAN = 8 * 1024 * 1024

/** A run of an extent's bytes, `into` bytes into what is read. */
interface Piece { e: Extent, skip: number, length: number, into: number }

const fileStart = (p: Piece): number => p.e.at + p.skip
const fileEnd = (p: Piece): number => p.e.at + p.skip + p.length

/**
 * Bytes read from a source with the extents they came from, so that an offset in them still maps to its cursor
 * and time when the index has changed since (appends of an older generation and retention move positions).
 */
export class Chunk {
  constructor (readonly data: Buffer, private readonly pieces: Piece[]) {}

  /** The first `n` bytes. */
  head (n: number): Chunk { return new Chunk(this.data.subarray(0, n), this.pieces) }

  /** The piece holding offset `i` (the last one for the end). */
  private piece (i: number): Piece {
    let lo = 0
    let hi = this.pieces.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      if (this.pieces[mid].into <= i) lo = mid
      else hi = mid - 1
    }
    return this.pieces[lo]
  }

  cursorAt (i: number): Cursor {
    const p = this.piece(i)
    return { gen: p.e.gen, offset: p.e.offset + p.skip + Math.min(i - p.into, p.length) }
  }

  timestampAt (i: number): number { return this.piece(i).e.timestamp }
}

export class SourceIndex {
  readonly extents: Extent[] = []
  /** Logical position of each extent's first byte. */
  private starts: number[] = []
  /** Per generation, the offset just past the highest byte stored: anything below it is a resend. */
  readonly high = new Map<number, number>()
  bytes = 0
  gapBytes = 0
  lastWrite = 0
  /** Counts the calls to retain that dropped extents: a read in flight checks it to know its bytes stayed. */
  private retentions = 0

  constructor (readonly source: string, readonly node: string, readonly tenant: string) {}

  /** Logical length: every retained byte. */
  get end (): number { return this.bytes }

  add (e: Extent): void {
    const x = this.extents
    let i = x.length
    while (i > 0 && before(e, x[i - 1])) i--
    x.splice(i, 0, e)
    if (i === x.length - 1) {
      this.starts.push(this.bytes)
      this.bytes += e.length
    } else {
      // An older generation after a newer one (a clock that went back, a second agent under the same node):
      // everything after the insertion point moves, and reindex counts the new extent itself.
      this.reindex()
    }
    this.high.set(e.gen, Math.max(this.high.get(e.gen) ?? 0, e.offset + e.length))
    this.lastWrite = Math.max(this.lastWrite, e.timestamp)
  }

  /** Drops the extents `keep` rejects (retention). */
  retain (keep: (e: Extent) => boolean): void {
    const kept = this.extents.filter(keep)
    if (kept.length === this.extents.length) return
    this.extents.splice(0, this.extents.length, ...kept)
    this.reindex()
    this.retentions++
  }

  private reindex (): void {
    this.starts = []
    let n = 0
    for (const e of this.extents) { this.starts.push(n); n += e.length }
    this.bytes = n
  }

  /** Index of the extent holding logical position `pos` (the last one for `pos == end`). */
  private extentAt (pos: number): number {
    let lo = 0
    let hi = this.starts.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      if (this.starts[mid] <= pos) lo = mid
      else hi = mid - 1
    }
    return lo
  }

  /** Logical position of a cursor, or null when no retained byte has it. */
  logicalOf (c: Cursor): number | null {
    let lo = 0
    let hi = this.extents.length - 1
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      const e = this.extents[mid]
      if (before(c, { gen: e.gen, offset: e.offset })) hi = mid - 1
      else if (e.gen === c.gen && c.offset < e.offset + e.length) return this.starts[mid] + c.offset - e.offset
      else lo = mid + 1
    }
    // The cursor just past the newest byte is valid too: it is where a follower starts.
    const last = this.extents[this.extents.length - 1]
    if (last && last.gen === c.gen && last.offset + last.length === c.offset) return this.bytes
    return null
  }

  /** Logical position of the first retained byte at or after cursor `c` (end when there is none). */
  positionAtOrAfter (c: Cursor): number {
    const exact = this.logicalOf(c)
    if (exact !== null) return exact
    // The first extent that starts after `c`: a scan resumes here once per window, so not a linear search.
    let lo = 0
    let hi = this.extents.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (before(c, this.extents[mid])) hi = mid
      else lo = mid + 1
    }
    return lo < this.extents.length ? this.starts[lo] : this.bytes
  }

  cursorAt (pos: number): Cursor {
    if (this.extents.length === 0) return { gen: 0, offset: 0 }
    const i = this.extentAt(pos)
    const e = this.extents[i]
    return { gen: e.gen, offset: e.offset + Math.min(pos - this.starts[i], e.length) }
  }

  timestampAt (pos: number): number {
    return this.extents.length === 0 ? 0 : this.extents[this.extentAt(pos)].timestamp
  }

  /** Logical position of the first extent written at or after `ts` (end if none). */
  positionAtTime (ts: number): number {
    let lo = 0
    let hi = this.extents.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (this.extents[mid].timestamp < ts) lo = mid + 1
      else hi = mid
    }
    return lo < this.extents.length ? this.starts[lo] : this.bytes
  }

  /** Where the bytes in logical [from, to) lie, extent by extent. */
  private pieces (from: number, to: number): Piece[] {
    from = Math.max(0, from)
    to = Math.min(this.bytes, to)
    const out: Piece[] = []
    for (let i = this.extentAt(from), pos = from; pos < to; i++) {
      const skip = pos - this.starts[i]
      const length = Math.min(this.extents[i].length - skip, to - pos)
      out.push({ e: this.extents[i], skip, length, into: pos - from })
      pos += length
    }
    return out
  }

  /** The bytes in logical [from, to). */
  read (from: number, to: number): Buffer {
    const pieces = this.pieces(from, to)
    const out = Buffer.allocUnsafe(pieces.reduce((n, p) => n + p.length, 0))
    for (const p of pieces) fs.readSync(p.e.seg.fd, out, p.into, p.length, fileStart(p))
    return out
  }

  /**
   * The bytes in logical [from, to), read in libuv's threadpool so the event loop serves ingest meanwhile; null
   * when retention removed some of them before the read finished. The store closes a segment's file in the same
   * turn as it retains the segment's extents away, so a piece whose extent is still here was read from its file,
   * not from a descriptor since closed and reused.
   */
  async readAsync (from: number, to: number): Promise<Chunk | null> {
    const pieces = this.pieces(from, to)
    const data = Buffer.allocUnsafe(pieces.reduce((n, p) => n + p.length, 0))
    const retentions = this.retentions
    const reads = await Promise.allSettled(runs(pieces).map(run => readRun(run, data)))
    if (this.retentions !== retentions) {
      const kept = new Set(this.extents)
      if (pieces.some(p => !kept.has(p.e))) return null
    }
    for (const r of reads) if (r.status === 'rejected') throw r.reason
    return new Chunk(data, pieces)
  }
}

/** Pieces grouped into runs that one read of their segment covers (see GAP). */
function runs (pieces: Piece[]): Piece[][] {
  const out: Piece[][] = []
  let run: Piece[] = []
  for (const p of pieces) {
    const first = run[0]
    const last = run[run.length - 1]
    const joins = last !== undefined && p.e.seg === last.e.seg && fileStart(p) >= fileEnd(last) &&
      fileStart(p) - fileEnd(last) <= GAP && fileEnd(p) - fileStart(first) <= SPAN
    if (!joins && run.length > 0) {
      out.push(run)
      run = []
    }
    run.push(p)
  }
  if (run.length > 0) out.push(run)
  return out
}

/** Reads a run's span of its segment and puts each piece in its place in `out`. */
async function readRun (run: Piece[], out: Buffer): Promise<void> {
  const fd = run[0].e.seg.fd
  if (run.length === 1) {
    await pread(fd, out, run[0].into, run[0].length, fileStart(run[0]))
    return
  }
  const start = fileStart(run[0])
  const span = Buffer.allocUnsafe(fileEnd(run[run.length - 1]) - start)
  await pread(fd, span, 0, span.length, start)
  for (const p of run) span.copy(out, p.into, fileStart(p) - start, fileEnd(p) - start)
}
