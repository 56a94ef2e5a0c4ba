// One segment's index as queries use it: its extents in file order, cut into blocks, and which blocks may hold a
// set of tokens. A sealed segment answers from its sidecar (on disk, read a few rows at a time); the open segment
// from the blocks the worker has built so far, held in memory; whatever is not indexed yet is a candidate.
import { BLOCK_BYTES, type BlockSummary, type BuiltBlock } from './blocks'
import { holdsAll } from './blockfilter'
import { SidecarError, type Sidecar } from './sidecar'
import type { Extent } from './source'

export class SegmentIndex {
  /** The segment's extents, in file order. */
  readonly extents: Extent[] = []
  /** First extent of each block (of the open segment; a sealed one's come from its sidecar). */
  private starts: number[] = []
  private openBytes = BLOCK_BYTES
  /** The open segment's built blocks, by block number. */
  private built: Array<BuiltBlock | undefined> = []
  private side: Sidecar | null = null

  /** `broken` hears of a sidecar found corrupt on use, after the segment index has stopped using it. */
  constructor (readonly id: number, readonly file: string, private readonly broken: (why: string) => void) {}

  get sidecar (): Sidecar | null { return this.side }

  add (e: Extent): void {
    if (this.openBytes >= BLOCK_BYTES) { this.starts.push(this.extents.length); this.openBytes = 0 }
    this.extents.push(e)
    this.openBytes += e.length
  }

  /** Blocks that no later entry can join: all but the last, which stays open until the segment is sealed. */
  get closedBlocks (): number { return Math.max(0, this.starts.length - 1) }

  /** Extent range [first, end) of block k, by the open segment's own cut. */
  range (k: number): [number, number] {
    return [this.starts[k], k + 1 < this.starts.length ? this.starts[k + 1] : this.extents.length]
  }

  get blockCount (): number { return this.starts.length }

  setBuilt (blocks: BuiltBlock[]): void {
    for (const b of blocks) this.built[this.starts.indexOf(b.first)] = b
  }

  /** Built blocks in order, every one of them: what a seal writes besides the ones it builds itself. */
  builtPrefix (): BuiltBlock[] {
    const out: BuiltBlock[] = []
    for (const b of this.built) { if (!b) break; out.push(b) }
    return out
  }

  /** Answers from `sidecar` from now on; the in-memory blocks are dropped. */
  attach (sidecar: Sidecar): void {
    this.side = sidecar
    this.built = []
    this.starts = []
  }

  /** Summaries of the blocks indexed so far (sidecar or built), for the console's histogram. */
  summaries (): BlockSummary[] {
    return this.side ? this.side.blocks : this.built.filter((b): b is BuiltBlock => b !== undefined)
  }

  /**
   * Extents, in file order, of the blocks that may hold every token of `hashes`; every extent when nothing is
   * indexed. Calls `each` per extent.
   */
  candidates (hashes: number[], each: (e: Extent) => void): void {
    const x = this.extents
    const emit = (a: number, b: number): void => { for (let i = a; i < b; i++) each(x[i]) }
    if (this.side) {
      const blocks = this.side.blocks
      let may: Uint8Array
      try {
        may = this.side.mayHoldAll(hashes)
      } catch (err) {
        if (!(err instanceof SidecarError)) throw err
        this.side.close()
        this.side = null
        this.recut()
        this.broken(err.message)
        emit(0, x.length)
        return
      }
      for (let k = 0; k < blocks.length; k++) {
        if (!blocks[k].unfiltered && (may[k >> 3] & (1 << (k & 7))) === 0) continue
        emit(blocks[k].first, k + 1 < blocks.length ? blocks[k + 1].first : x.length)
      }
      return
    }
    for (let k = 0; k < this.starts.length; k++) {
      const b = this.built[k]
      if (b && !b.unfiltered && !holdsAll(b.hashes, hashes)) continue
      const [first, end] = this.range(k)
      emit(first, end)
    }
    if (this.starts.length === 0) emit(0, x.length)
  }

  /** Cuts the extents into blocks again, as a segment without a sidecar is until its rebuild. */
  private recut (): void {
    this.starts = []
    this.openBytes = BLOCK_BYTES
    const extents = this.extents.splice(0)
    for (const e of extents) this.add(e)
  }

  close (): void { this.side?.close() }
}
