// Cuts a stream's messages, in sequence order, into blocks of at least BLOCK_BYTES of payload and gives each block
// its distinct token hashes, tokenized by the store's native tokenizer as the embedded store's blocks are
// (../store/disk/blocks.ts). A token cut across two messages of one source (two runs) is joined and belongs to the
// block of the later message, which holds part of its line: grep widens a candidate to whole lines. Tokenizing
// runs here, on the event loop (about 1 ms per block): in a worker thread it cost the gateway some 100 MiB more
// RSS after 1 GB of ingest, for no ingest gained within this machine's noise (bench:scaleout).
import { MAX_TOKEN, WORD, tokenHash } from '../store/tokens'
import { tokenizer } from '../store/tokenizer'
import { holdsAll } from '../store/blockfilter'
import type { FilteredBlock } from './filter-format'

/** As the embedded store's blocks: a false positive costs one short read. */
export const BLOCK_BYTES = 256 * 1024

const NO_LEVELS = new Uint32Array(0)
const NO_LEVEL_OF = new Uint8Array(0)

/** One message as the builder reads it: its run's place in its source, and its bytes. */
export interface RunMessage { seq: number, source: string, gen: number, offset: number, data: Uint8Array }

/** The last bytes of a source's latest message: a token may go on in its next one. */
interface Tail { gen: number, end: number, bytes: Uint8Array }

/** Bytes of a source's run that end where `m` begins (its previous message's last MAX_TOKEN), or null. */
export type Previous = (m: RunMessage) => Promise<Uint8Array | null>

export class BlockCutter {
  private readonly tails = new Map<string, Tail>()
  private messages: RunMessage[] = []
  /** Per pending message, whether it starts inside a token of its source's previous message. */
  private inToken: boolean[] = []
  private bytes = 0
  private joined: number[] = []
  private unfiltered = false

  /** `previous` finds the bytes before a message whose source's tail this builder has not seen (a takeover). */
  constructor (private readonly previous: Previous) {}

  get pendingBytes (): number { return this.bytes }

  /** Adds a message; a block when it fills one. */
  async add (m: RunMessage): Promise<FilteredBlock | null> {
    const tail = this.tails.get(m.source)
    const goesOn = tail !== undefined ? tail.gen === m.gen && tail.end === m.offset : m.offset > 0
    let inToken = false
    if (goesOn && m.data.length > 0 && WORD[m.data[0]] === 1) {
      inToken = this.join(tail !== undefined ? tail.bytes : await this.previous(m), m.data)
    }
    const bytes = lastBytes(m.data, goesOn ? tail : undefined)
    this.tails.set(m.source, { gen: m.gen, end: m.offset + m.data.length, bytes })
    this.messages.push(m)
    this.inToken.push(inToken)
    this.bytes += m.data.length
    return this.bytes >= BLOCK_BYTES ? this.cut() : null
  }

  /**
   * Adds the token joined across `before` and the start of `data`, and whether `data` starts inside a token; a
   * token whose start is unknown leaves the block unfiltered.
   */
  private join (before: Uint8Array | null, data: Uint8Array): boolean {
    if (before === null) { this.unfiltered = true; return true }
    let s = before.length
    while (s > 0 && WORD[before[s - 1]] === 1) s--
    if (s === before.length) return false
    // All MAX_TOKEN bytes are word bytes: the token began further back than is kept.
    if (s === 0 && before.length >= MAX_TOKEN) { this.unfiltered = true; return true }
    let e = 0
    while (e < data.length && e < MAX_TOKEN && WORD[data[e]] === 1) e++
    const token = Buffer.concat([before.subarray(s), data.subarray(0, e)])
    this.joined.push(tokenHash(token, 0, token.length))
    return true
  }

  /** The block of the messages added since the last one; null when there are none. */
  cut (): FilteredBlock | null {
    const ms = this.messages
    if (ms.length === 0) return null
    // A block of one message (an agent's full batch, the common case at high ingest) is tokenized where it lies.
    const data = ms.length === 1 ? ms[0].data : Buffer.allocUnsafe(this.bytes)
    const pieces = new Int32Array(4 * ms.length)
    let at = 0
    for (const [i, m] of ms.entries()) {
      if (data !== m.data) data.set(m.data, at)
      const end = at + m.data.length
      // A token that went on from the source's previous message was joined above; its rest is not a token.
      let skip = at
      if (this.inToken[i]) while (skip < end && WORD[data[skip]] === 1) skip++
      pieces.set([at, skip, end, end], 4 * i)
      at = end
    }
    // No level words: a filter holds tokens only, and the lines per level are the index's (not counted here).
    const { hashes } = tokenizer().blockTokens(data, pieces, NO_LEVELS, NO_LEVEL_OF)
    const all = this.joined.length === 0 ? hashes : withHashes(hashes, this.joined)
    const block = { last: ms[ms.length - 1].seq, unfiltered: this.unfiltered, hashes: all, bytes: this.bytes }
    this.messages = []
    this.inToken = []
    this.bytes = 0
    this.joined = []
    this.unfiltered = false
    return block
  }
}

/** The last MAX_TOKEN bytes of a source's bytes up to the end of `data`, `tail` being those before it. */
function lastBytes (data: Uint8Array, tail: Tail | undefined): Uint8Array {
  if (data.length >= MAX_TOKEN || tail === undefined) return Uint8Array.prototype.slice.call(data.subarray(-MAX_TOKEN))
  const both = Buffer.concat([tail.bytes, data])
  return Uint8Array.prototype.slice.call(both.subarray(-MAX_TOKEN))
}

/**
 * `sorted` (ascending, distinct: the tokenizer's) with `more` added, ascending and distinct. Most blocks end inside
 * a line, so most have a joined token or two: they are looked up, not spread with the block's thousands into a Set.
 */
function withHashes (sorted: Uint32Array, more: number[]): Uint32Array {
  const extra = [...new Set(more)].filter(h => !holdsAll(sorted, [h]))
  if (extra.length === 0) return sorted
  const all = new Uint32Array(sorted.length + extra.length)
  all.set(sorted)
  all.set(extra, sorted.length)
  return all.sort()
}
