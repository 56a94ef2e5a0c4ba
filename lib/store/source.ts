// One source's index: its entries in cursor order, and a logical position space (the source's retained bytes
// laid end to end) that queries use to read windows, walk lines and step across entries and generations.
import fs from 'node:fs'

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

export class SourceIndex {
  readonly extents: Extent[] = []
  /** Logical position of each extent's first byte. */
  private starts: number[] = []
  /** Per generation, the offset just past the highest byte stored: anything below it is a resend. */
  readonly high = new Map<number, number>()
  bytes = 0
  gapBytes = 0
  lastWrite = 0

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
    const i = this.extents.findIndex(e => before(c, { gen: e.gen, offset: e.offset }))
    return i < 0 ? this.bytes : this.starts[i]
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

  /** The bytes in logical [from, to). */
  read (from: number, to: number): Buffer {
    from = Math.max(0, from)
    to = Math.min(this.bytes, to)
    if (to <= from) return Buffer.alloc(0)
    const out = Buffer.allocUnsafe(to - from)
    let i = this.extentAt(from)
    let pos = from
    while (pos < to) {
      const e = this.extents[i]
      const skip = pos - this.starts[i]
      const n = Math.min(e.length - skip, to - pos)
      fs.readSync(e.seg.fd, out, pos - from, n, e.at + skip)
      pos += n
      i++
    }
    return out
  }
}
