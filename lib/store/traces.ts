// The trace index: trace id → the cursors of the lines that carry it (seed 002: JSON lines with `trace_id` or
// `x_trace_id`). Lines are found with native byte search, never by parsing every line, so indexing keeps up
// with ingest; lines cut across entries are joined by keeping each source's unfinished line.
//
// Millions of traces must fit in little memory and cost little garbage collection, so ids are not kept as
// strings: an id is hashed to 53 bits straight from the bytes, and references are chained in one growing
// Float64Array. A hash collision only adds a line of another trace, which `buildTrace` drops when it reads the
// line and compares the id.
import type { Cursor } from './source'
import { NL } from '../util/bytes'

export interface TraceRef { source: string, gen: number, offset: number }

const KEY = Buffer.from('trace_id"')
const MAX_PENDING = 64 * 1024
const MAX_ID = 128
/** A reference: source number, gen, offset, index of the previous reference of the same hash + 1 (0: none). */
const STRIDE = 4

interface Pending { gen: number, offset: number, bytes: Buffer }

/** FNV-1a twice (two seeds), folded into a safe integer. */
function hashBytes (buf: Uint8Array, start: number, end: number): number {
  let a = 0x811c9dc5
  let b = 0x01000193 ^ 0x9e3779b9
  for (let i = start; i < end; i++) {
    a = Math.imul(a ^ buf[i], 0x01000193) >>> 0
    b = Math.imul(b ^ buf[i], 0x5bd1e995) >>> 0
  }
  return a * 0x200000 + (b & 0x1fffff)
}

/**
 * hash → head reference (index + 1), open addressing in typed arrays: a Map of millions of number keys costs
 * far more time and memory. Hash 0 is remapped to 1 so 0 can mark an empty slot.
 */
class HeadTable {
  private keys = new Float64Array(1 << 16)
  private values = new Int32Array(1 << 16)
  size = 0

  private slot (hash: number): number {
    const mask = this.keys.length - 1
    let i = (hash % 0x40000000) & mask
    while (this.keys[i] !== 0 && this.keys[i] !== hash) i = (i + 1) & mask
    return i
  }

  get (hash: number): number {
    return this.values[this.slot(hash || 1)]
  }

  set (hash: number, value: number): void {
    hash = hash || 1
    let i = this.slot(hash)
    if (this.keys[i] === 0) {
      if ((this.size + 1) * 2 > this.keys.length) {
        this.grow()
        i = this.slot(hash)
      }
      this.keys[i] = hash
      this.size++
    }
    this.values[i] = value
  }

  private grow (): void {
    const keys = this.keys
    const values = this.values
    this.keys = new Float64Array(keys.length * 2)
    this.values = new Int32Array(keys.length * 2)
    for (let i = 0; i < keys.length; i++) {
      if (keys[i] === 0) continue
      const j = this.slot(keys[i])
      this.keys[j] = keys[i]
      this.values[j] = values[i]
    }
  }

  * entries (): IterableIterator<[number, number]> {
    for (let i = 0; i < this.keys.length; i++) if (this.keys[i] !== 0) yield [this.keys[i], this.values[i]]
  }
}

export class TraceIndex {
  private heads = new HeadTable()
  private refsBuf = new Float64Array(STRIDE * 1024)
  private count = 0
  private readonly sourceNo = new Map<string, number>()
  private readonly sourceNames: string[] = []
  private readonly pending = new Map<string, Pending>()

  /** Distinct trace ids (hashes) indexed. */
  get size (): number { return this.heads.size }

  /** The lines that may carry `id`, oldest first. */
  refs (id: string): TraceRef[] {
    const bytes = Buffer.from(id)
    const out: TraceRef[] = []
    for (let i = this.heads.get(hashBytes(bytes, 0, bytes.length)); i > 0; i = this.refsBuf[(i - 1) * STRIDE + 3]) {
      const at = (i - 1) * STRIDE
      out.push({ source: this.sourceNames[this.refsBuf[at]], gen: this.refsBuf[at + 1], offset: this.refsBuf[at + 2] })
    }
    return out.reverse()
  }

  private number (source: string): number {
    let n = this.sourceNo.get(source)
    if (n === undefined) {
      n = this.sourceNames.length
      this.sourceNo.set(source, n)
      this.sourceNames.push(source)
    }
    return n
  }

  private add (hash: number, source: number, gen: number, offset: number): void {
    if ((this.count + 1) * STRIDE > this.refsBuf.length) {
      const bigger = new Float64Array(this.refsBuf.length * 2)
      bigger.set(this.refsBuf)
      this.refsBuf = bigger
    }
    const at = this.count * STRIDE
    this.refsBuf[at] = source
    this.refsBuf[at + 1] = gen
    this.refsBuf[at + 2] = offset
    this.refsBuf[at + 3] = this.heads.get(hash)
    this.count++
    this.heads.set(hash, this.count)
  }

  /** Feeds the next bytes of a source, which start at cursor `at`. */
  feed (source: string, at: Cursor, data: Buffer): void {
    const p = this.pending.get(source)
    let base: Cursor = at
    let buf = data
    if (p && p.gen === at.gen && p.offset + p.bytes.length === at.offset) {
      base = { gen: p.gen, offset: p.offset }
      buf = Buffer.concat([p.bytes, data])
    }
    const lastNl = buf.lastIndexOf(NL)
    const complete = lastNl + 1
    const no = this.number(source)
    for (let hit = buf.indexOf(KEY); hit >= 0 && hit < complete; hit = buf.indexOf(KEY, hit + KEY.length)) {
      const value = TraceIndex.valueAfter(buf, hit, complete)
      if (value === null) continue
      const lineStart = buf.lastIndexOf(NL, hit) + 1
      this.add(hashBytes(buf, value[0], value[1]), no, base.gen, base.offset + lineStart)
    }
    const rest = buf.length - complete
    if (rest > 0 && rest <= MAX_PENDING) {
      const unfinished = Buffer.from(buf.subarray(complete))
      this.pending.set(source, { gen: base.gen, offset: base.offset + complete, bytes: unfinished })
    } else {
      this.pending.delete(source)
    }
  }

  /** Where the JSON string after `"trace_id"` or `"x_trace_id"` at `hit` lies, if the key is one of those. */
  private static valueAfter (buf: Buffer, hit: number, limit: number): [number, number] | null {
    const quote = hit - 1
    if (quote < 0) return null
    // `"trace_id` or `"x_trace_id`: the quote before the key, or -1 when the match is inside another key.
    const prefixed = quote >= 2 && buf[quote] === 0x5f && buf[quote - 1] === 0x78 && buf[quote - 2] === 0x22
    const opening = buf[quote] === 0x22 ? quote : (prefixed ? quote - 2 : -1)
    if (opening < 0) return null
    let i = hit + KEY.length
    while (i < limit && (buf[i] === 0x20 || buf[i] === 0x09)) i++
    if (buf[i] !== 0x3a) return null
    i++
    while (i < limit && (buf[i] === 0x20 || buf[i] === 0x09)) i++
    if (buf[i] !== 0x22) return null
    const start = i + 1
    const close = buf.indexOf(0x22, start)
    if (close < 0 || close >= limit || close - start === 0 || close - start > MAX_ID) return null
    const nl = buf.indexOf(NL, start)
    if (nl >= 0 && nl < close) return null
    return [start, close]
  }

  /** Forgets references the predicate rejects (their bytes were removed by retention), compacting the rest. */
  retain (keep: (ref: TraceRef) => boolean): void {
    const old = this.refsBuf
    const oldCount = this.count
    // Hash of each old reference, recovered from the chains.
    const hashOf = new Float64Array(oldCount)
    for (const [hash, head] of this.heads.entries()) {
      for (let i = head; i > 0; i = old[(i - 1) * STRIDE + 3]) hashOf[i - 1] = hash
    }
    this.heads = new HeadTable()
    this.refsBuf = new Float64Array(Math.max(STRIDE * 1024, old.length))
    this.count = 0
    for (let i = 0; i < oldCount; i++) {
      const at = i * STRIDE
      const [sourceId, gen, offset] = [old[at], old[at + 1], old[at + 2]]
      if (keep({ source: this.sourceNames[sourceId], gen, offset })) this.add(hashOf[i], sourceId, gen, offset)
    }
  }
}
