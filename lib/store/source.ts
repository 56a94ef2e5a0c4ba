// One source's index: its entries in cursor order, and a logical position space (the source's retained bytes
// laid end to end) that queries use to read windows, walk lines and step across entries and generations. Where an
// extent's bytes lie is the business of the store that indexed it: each store extends Extent with its own location
// (a segment and file offset in disk/, a stream message in lib/jetstream) and reads it with its own ExtentReader.
// A store may also keep a source's older entries elsewhere (a gateway pages them from the cluster): it releases the
// index's table, which keeps its totals and the entries added since, and restores it before a query walks it.
import { Chunk, Pieces, lastAtOrBelow } from './pieces'

/** A position in a source: records are ordered by agent generation first, then byte offset. */
export interface Cursor { gen: number, offset: number }

export function formatCursor (c: Cursor): string { return `${c.gen}:${c.offset}` }

export function parseCursor (text: string): Cursor {
  const m = /^(\d+):(\d+)$/.exec(text)
  if (!m) throw new Error(`'${text}' is not a cursor (expected GEN:OFFSET, e.g. 1732330000000:4096)`)
  return { gen: Number(m[1]), offset: Number(m[2]) }
}

/** A run of one source's bytes as the index knows it; a store adds where the bytes lie. */
export interface Extent {
  gen: number
  offset: number
  length: number
  timestamp: number
  src: SourceIndex
}

/** Part of an extent: its bytes [from, to), counted from the extent's first byte. */
export interface Piece<E extends Extent = Extent> {
  e: E
  from: number
  to: number
  /** No token filter covers it yet: a candidate because nothing could rule it out. */
  unindexed?: boolean
}

/** How a store reads its extents' bytes from where they lie. */
export interface ExtentReader<E extends Extent> {
  /** Bytes [from, from + length) of `e`, counted from its first byte, into `out` at `at`. */
  readSync (e: E, from: number, length: number, out: Buffer, at: number): void
  /** The bytes of every piece of `p`, each into `out` at its offset; rejects when one cannot be read. */
  read (p: Pieces<E>, out: Buffer): Promise<void>
}

const before = (a: Cursor, b: Cursor): boolean => a.gen < b.gen || (a.gen === b.gen && a.offset < b.offset)

/**
 * Thrown by a walk of a source whose entries are released: its store restores them and runs the walk again, as it
 * fetches bytes a walk found missing.
 */
export class NotHeld extends Error {
  override name = 'NotHeld'
  constructor (readonly sources: SourceIndex[]) {
    super(`the entries of ${sources.map(s => s.source).join(', ')} are not in memory`)
  }
}

/**
 * Throws NotHeld for every one of `sources` whose entries are released: a query that will walk them all asks for
 * them at once, not one per run.
 */
export function holdAll (sources: Iterable<SourceIndex>): void {
  const away = [...sources].filter(s => !s.held)
  if (away.length > 0) throw new NotHeld(away)
}

/** What a store keeps of a source's released entries: how many, their bytes, and where they begin and end. */
export interface Released {
  count: number
  bytes: number
  first: Cursor & { timestamp: number } | null
  next: Cursor | null
}

export class SourceIndex<E extends Extent = Extent> {
  /** Every entry in cursor order; null while released (`later` then holds the ones added since). */
  private table: E[] | null = []
  /** Logical position of each extent's first byte. */
  private starts: number[] = []
  private later: E[] = []
  private outside: Released = { count: 0, bytes: 0, first: null, next: null }
  /** Set by every walk of the entries: a store that releases tables passes over the ones used since its last look. */
  used = false
  /** Per generation, the offset just past the highest byte stored: anything below it is a resend. */
  readonly high = new Map<number, number>()
  bytes = 0
  gapBytes = 0
  lastWrite = 0
  private dropped = 0

  constructor (readonly source: string, readonly node: string, readonly tenant: string,
    private readonly reader: ExtentReader<E>) {}

  /** How many times retention dropped extents: a reader that awaits compares it to know its bytes stayed. */
  get retentions (): number { return this.dropped }

  /** Logical length: every retained byte. */
  get end (): number { return this.bytes }

  /** Every entry in cursor order; throws NotHeld while they are released. */
  get extents (): E[] {
    if (this.table === null) throw new NotHeld([this])
    this.used = true
    return this.table
  }

  get held (): boolean { return this.table !== null }

  /** The entries while held, not counted as a use (a store's own bookkeeping); null while released. */
  get heldEntries (): readonly E[] | null { return this.table }

  /** Entries added since the table was released, in the order they came. */
  get addedSince (): readonly E[] { return this.later }

  /** Entries, held or not. */
  get count (): number { return this.table === null ? this.outside.count + this.later.length : this.table.length }

  /** The first entry's place and time, whether or not the entries are held. */
  first (): Cursor & { timestamp: number } | null {
    if (this.table === null && this.outside.count > 0) return this.outside.first
    // Entries added while released are in the order they came: an older generation may follow a newer one.
    const e = this.table !== null
      ? this.table[0]
      : this.later.reduce<E | undefined>((a, b) => (a === undefined || before(b, a) ? b : a), undefined)
    return e ? { gen: e.gen, offset: e.offset, timestamp: e.timestamp } : null
  }

  /** The cursor just past the newest entry, whether or not the entries are held. */
  next (): Cursor | null {
    const x = this.table !== null ? this.table.slice(-1) : this.later
    const ends = x.map(e => ({ gen: e.gen, offset: e.offset + e.length }))
    if (this.table === null && this.outside.next !== null) ends.push(this.outside.next)
    return ends.reduce<Cursor | null>((a, b) => (a === null || before(a, b) ? b : a), null)
  }

  /**
   * Lets go of the first `paged` entries, which the store keeps elsewhere; the rest stay, as entries added since.
   * A walk then throws NotHeld until restore.
   */
  release (paged: number): void {
    const x = this.extents
    const out = x.slice(0, paged)
    const last = out[out.length - 1]
    this.releasedAs({
      count: out.length,
      bytes: out.reduce((n, e) => n + e.length, 0),
      first: out.length > 0 ? { gen: out[0].gen, offset: out[0].offset, timestamp: out[0].timestamp } : null,
      next: last ? { gen: last.gen, offset: last.offset + last.length } : null,
    }, x.slice(paged))
  }

  /**
   * What the store keeps of the released entries, when it knows better (retention took whole pages of them), or
   * for a source that starts released (its entries paged in the store when the index was loaded).
   */
  releasedAs (outside: Released, later: E[] = this.later): void {
    this.table = null
    this.starts = []
    this.outside = outside
    this.later = later
    this.bytes = outside.bytes + later.reduce((n, e) => n + e.length, 0)
  }

  /** Drops the first `n` entries added while released: the store now keeps them with the rest. */
  forget (n: number, outside: Released): void {
    if (this.table === null) this.releasedAs(outside, this.later.slice(n))
  }

  /**
   * Takes the entries back: `entries`, the released ones that retention kept, in cursor order; those added since
   * go on after them, but for the ones `paged` says are among `entries`.
   */
  restore (entries: E[], paged: (e: E) => boolean = () => false): void {
    if (this.table !== null) return
    const later = this.later.filter(e => !paged(e))
    this.table = entries
    this.later = []
    this.outside = { count: 0, bytes: 0, first: null, next: null }
    this.reindex()
    for (const e of later) this.add(e)
  }

  add (e: E): void {
    if (this.table === null) {
      // Released: kept aside until the table is back, with the totals a listing shows kept up to date.
      this.later.push(e)
      this.bytes += e.length
      this.high.set(e.gen, Math.max(this.high.get(e.gen) ?? 0, e.offset + e.length))
      this.lastWrite = Math.max(this.lastWrite, e.timestamp)
      return
    }
    const x = this.table
    let i = x.length
    while (i > 0 && before(e, x[i - 1])) i--
    // Nearly always at the end: a store opening adds every entry, and push costs far less than splice.
    if (i === x.length) x.push(e)
    else x.splice(i, 0, e)
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
  retain (keep: (e: E) => boolean): void {
    // In place: a walk holding the table sees what retention left. Not a use: retention is no reader.
    const x = this.table
    if (x === null) throw new NotHeld([this])
    let k = 0
    for (const e of x) if (keep(e)) x[k++] = e
    if (k === x.length) return
    x.length = k
    this.reindex()
    this.dropped++
  }

  private reindex (): void {
    const x = this.table!
    this.starts = new Array<number>(x.length)
    let n = 0
    for (let i = 0; i < x.length; i++) { this.starts[i] = n; n += x[i].length }
    this.bytes = n
  }

  /** Logical position of the first byte of extent i. */
  extentStart (i: number): number { return this.starts[i] }

  /** Index of the extent holding logical position `pos` (the last one for `pos == end`). */
  private extentAt (pos: number): number { return lastAtOrBelow(this.starts, pos) }

  /** The extent just before `e` when `e` goes on from it (same generation, next offset), else null. */
  previous (e: E): E | null {
    let lo = 0
    let hi = this.extents.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (before(this.extents[mid], e)) lo = mid + 1
      else hi = mid
    }
    const p = this.extents[lo - 1]
    return this.extents[lo] === e && p && p.gen === e.gen && p.offset + p.length === e.offset ? p : null
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

  /** Index of the first extent written at or after `ts` (the count of extents if none). */
  extentAtTime (ts: number): number {
    let lo = 0
    let hi = this.extents.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (this.extents[mid].timestamp < ts) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  /** Logical position of the first extent written at or after `ts` (end if none). */
  positionAtTime (ts: number): number {
    const i = this.extentAtTime(ts)
    return i < this.extents.length ? this.starts[i] : this.bytes
  }

  /** Where the bytes in logical [from, to) lie, extent by extent. */
  private pieces (from: number, to: number): Pieces<E> {
    from = Math.max(0, from)
    to = Math.min(this.bytes, to)
    if (to <= from) return new Pieces([], [], 0, 0)
    const first = this.extentAt(from)
    const last = this.extentAt(to - 1)
    const offsets = this.starts.slice(first, last + 1).map(start => Math.max(0, start - from))
    return new Pieces(this.extents.slice(first, last + 1), offsets, from - this.starts[first], to - from)
  }

  /** The bytes in logical [from, to). */
  read (from: number, to: number): Buffer {
    const p = this.pieces(from, to)
    const out = Buffer.allocUnsafe(p.length)
    for (let k = 0; k < p.count; k++) {
      this.reader.readSync(p.extents[k], p.start(k), p.size(k), out, p.offsets[k])
    }
    return out
  }

  /**
   * The bytes in logical [from, to), read off the event loop (libuv's threadpool, the network) so that it serves
   * ingest meanwhile; null when retention removed some of them before the read finished. A store drops what holds
   * an extent's bytes (closes a segment's file) in the same turn as it retains the extent away, so a piece whose
   * extent is still here was read from where it lies, not from a descriptor since closed and reused.
   */
  async readAsync (from: number, to: number, into?: Buffer): Promise<Chunk | null> {
    const p = this.pieces(from, to)
    // A scan passes the window buffer it reuses: megabytes allocated per window cost full garbage collections.
    const data = into !== undefined && into.length >= p.length
      ? into.subarray(0, p.length)
      : Buffer.allocUnsafe(p.length)
    const retentions = this.retentions
    let failure: unknown = null
    try {
      await this.reader.read(p, data)
    } catch (err) {
      failure = err
    }
    if (this.retentions !== retentions) {
      const kept = new Set(this.extents)
      if (p.extents.some(e => !kept.has(e))) return null
    }
    if (failure !== null) throw failure
    return new Chunk(data, p)
  }
}
