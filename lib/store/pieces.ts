// Where the bytes of one read of a source lie (Pieces), and bytes read with the extents they came from (Chunk): what
// SourceIndex hands out, so that an offset in a read still maps to its cursor and time after the index changed.

/** What a piece needs of an extent (source.ts's Extent has it): where its bytes are in the source, and their time. */
export interface Placed { gen: number, offset: number, timestamp: number }

/** Index of the last of `sorted` (ascending) that is at most `x`; 0 when none is. */
export function lastAtOrBelow (sorted: number[], x: number): number {
  let lo = 0
  let hi = sorted.length - 1
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1
    if (sorted[mid] <= x) lo = mid
    else hi = mid - 1
  }
  return lo
}

/**
 * Where the bytes of one read lie: a piece of each of consecutive extents, the first entered `skip` bytes in, the
 * last cut where the read ends. A snapshot: appends and retention change the index, not this.
 */
export class Pieces<E extends Placed = Placed> {
  constructor (
    readonly extents: E[],
    /** Where each piece starts in what is read. */
    readonly offsets: number[],
    readonly skip: number,
    readonly length: number,
  ) {}

  get count (): number { return this.extents.length }

  /** Bytes of piece k. */
  size (k: number): number { return (k + 1 < this.count ? this.offsets[k + 1] : this.length) - this.offsets[k] }

  /** Where piece k starts in its extent, counted from the extent's first byte. */
  start (k: number): number { return k === 0 ? this.skip : 0 }

  /** The piece holding offset `i` of what is read (the last one for its end). */
  find (i: number): number { return lastAtOrBelow(this.offsets, i) }
}

/**
 * Bytes read from a source with the extents they came from, so that an offset in them still maps to its cursor
 * and time when the index has changed since (appends of an older generation and retention move positions).
 */
export class Chunk {
  constructor (readonly data: Buffer, private readonly pieces: Pieces) {}

  /** The first `n` bytes. */
  head (n: number): Chunk { return new Chunk(this.data.subarray(0, n), this.pieces) }

  cursorAt (i: number): { gen: number, offset: number } {
    const k = this.pieces.find(i)
    const e = this.pieces.extents[k]
    return { gen: e.gen, offset: e.offset + this.pieces.start(k) + i - this.pieces.offsets[k] }
  }

  timestampAt (i: number): number { return this.pieces.extents[this.pieces.find(i)].timestamp }

  /** Where each piece starts and the time of its write, ascending: timestampAt for code without the index. */
  timeline (): { offsets: number[], timestamps: number[] } {
    return { offsets: this.pieces.offsets, timestamps: this.pieces.extents.map(e => e.timestamp) }
  }
}
