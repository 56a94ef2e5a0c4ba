// One segment's index as queries use it: its extents in file order, and which of its blocks (blocks.ts) may hold
// a set of tokens. A sealed segment answers from its sidecar (on disk, read a few rows at a time); the open
// segment from the blocks the worker has built so far, held in memory; whatever is not indexed yet is a candidate.
import { BLOCK_BYTES, blockOf, blockStart, blocksIn, type BuiltBlock } from './blocks'
import { holdsAll } from '../blockfilter'
import { SidecarError, type Sidecar } from './sidecar'
import { SUMMARY } from '../levels'
import type { Piece } from '../source'
import type { SegmentExtent } from './segment-reader'

export class SegmentIndex {
  /** The segment's extents, in file order. */
  readonly extents: SegmentExtent[] = []
  /** The open segment's built blocks, by block number. */
  private built: Array<BuiltBlock | undefined> = []
  private side: Sidecar | null = null
  private covered = 0

  /** `broken` hears of a sidecar found corrupt on use, after the segment index has stopped using it. */
  constructor (readonly id: number, readonly file: string, private readonly broken: (why: string) => void) {}

  get sidecar (): Sidecar | null { return this.side }

  add (e: SegmentExtent): void { this.extents.push(e) }

  /** File offset just past the last extent. */
  private get end (): number {
    const last = this.extents[this.extents.length - 1]
    return last ? last.at + last.length : 0
  }

  /**
   * Adds extent e's SUMMARY numbers (../levels.ts) to `into` from `at`: from the sidecar, which holds the entries
   * it was written for in file order (every one of a sealed segment; of an open one, those it held at a graceful
   * stop); else as the sum of e's parts in the blocks built so far, when they hold all of it. False when neither
   * does (its block is not built yet): count the bytes.
   */
  addLineCounts (e: SegmentExtent, into: Float64Array, at: number): boolean {
    const i = this.indexOf(e)
    if (i < 0) return false
    const side = this.side
    if (side !== null && i < side.summaries.length / SUMMARY) {
      for (let j = 0; j < SUMMARY; j++) into[at + j] += side.summaries[i * SUMMARY + j]
      return true
    }
    // A block lists its entries' parts in entry order, each entry number followed by its SUMMARY numbers.
    const parts: Array<[Uint32Array, number]> = []
    for (let k = blockOf(e.at); k <= blockOf(e.at + e.length - 1); k++) {
      const b = this.built[k]
      const o = b ? (i - b.summaries[0]) * (1 + SUMMARY) : -1
      if (!b || o < 0 || b.summaries[o] !== i) return false
      parts.push([b.summaries, o + 1])
    }
    for (const [summaries, o] of parts) for (let j = 0; j < SUMMARY; j++) into[at + j] += summaries[o + j]
    return true
  }

  /** e's number in the segment (its place in file order); -1 when it is not one of the segment's. */
  private indexOf (e: SegmentExtent): number {
    const i = this.firstEndingAfter(e.at)
    return this.extents[i] === e ? i : -1
  }

  /** The number of the first extent that ends after file position `pos` (extents lie in file order). */
  private firstEndingAfter (pos: number): number {
    const x = this.extents
    let lo = 0
    let hi = x.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (x[mid].at + x[mid].length <= pos) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  /** Blocks that no later entry can reach: all before the one the segment's end is in. */
  get closedBlocks (): number { return this.extents.length === 0 ? 0 : blockOf(this.end) }

  /** Blocks of the segment as it is now, the last one maybe partly filled. */
  get blockCount (): number { return blocksIn(this.end) }

  /** Index range [first, end) of the extents with data in block k. */
  extentsIn (k: number): [number, number] {
    const bs = blockStart(k)
    const x = this.extents
    const lo = this.firstEndingAfter(bs)
    let end = lo
    while (end < x.length && x[end].at < bs + BLOCK_BYTES) end++
    return [lo, end]
  }

  setBuilt (blocks: BuiltBlock[]): void {
    for (const b of blocks) this.built[b.k] = b
  }

  /** Built blocks in order, every one of them from the first: what a seal writes besides those it builds itself. */
  builtPrefix (): BuiltBlock[] {
    const out: BuiltBlock[] = []
    for (const b of this.built) { if (!b) break; out.push(b) }
    return out
  }

  /** Answers from `sidecar` from now on; the in-memory blocks are dropped. */
  attach (sidecar: Sidecar): void {
    this.side = sidecar
    this.covered = Infinity
    this.built = []
  }

  /**
   * Answers for the blocks that were whole when the open segment's sidecar was written (at a graceful stop) from
   * that sidecar, and for later ones from blocks built in memory as they close.
   */
  attachPrefix (sidecar: Sidecar): void {
    this.side = sidecar
    this.covered = this.closedBlocks
  }

  /** Blocks the sidecar answers for: all of a sealed segment's, the whole ones of an open segment's checkpoint. */
  get sidecarBlocks (): number { return this.side ? Math.min(this.covered, this.side.blocks.length) : 0 }

  /**
   * The parts of extents, in file order, that lie in blocks that may hold every token of `hashes`; all of every
   * extent in blocks not indexed yet.
   */
  candidates (hashes: number[], each: (p: Piece<SegmentExtent>) => void): void {
    const count = this.blockCount
    const may = this.mayHold(hashes, count)
    for (let k = 0; k < count; k++) {
      if (!may(k)) continue
      const bs = blockStart(k)
      const [first, end] = this.extentsIn(k)
      for (let i = first; i < end; i++) {
        const e = this.extents[i]
        each({ e, from: Math.max(0, bs - e.at), to: Math.min(e.length, bs + BLOCK_BYTES - e.at) })
      }
    }
  }

  /** Whether block k may hold every token of `hashes`. */
  private mayHold (hashes: number[], count: number): (k: number) => boolean {
    const built = (k: number): boolean => {
      const b = k < count ? this.built[k] : undefined
      return !b || b.unfiltered || holdsAll(b.hashes, hashes)
    }
    const side = this.side
    if (!side) return built
    const covered = this.sidecarBlocks
    try {
      const bits = side.mayHoldAll(hashes)
      return k => k >= covered ? built(k) : side.blocks[k].unfiltered || (bits[k >> 3] & (1 << (k & 7))) !== 0
    } catch (err) {
      if (!(err instanceof SidecarError)) throw err
      side.close()
      this.side = null
      this.covered = 0
      this.broken(err.message)
      return built
    }
  }

  /** Stops answering from the sidecar (about to be deleted): its blocks are read whole until it is rebuilt. */
  detach (): void {
    this.side?.close()
    this.side = null
    this.covered = 0
  }

  close (): void { this.side?.close() }
}
