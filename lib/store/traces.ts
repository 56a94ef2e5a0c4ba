// The trace index: trace id → the cursors of the lines that carry it (seed 002: JSON lines with `trace_id` or
// `x_trace_id`). Lines are found with native byte search, never by parsing every line, so indexing keeps up
// with ingest; lines cut across entries are joined by keeping each source's unfinished line.
import type { Cursor } from './source'

export interface TraceRef { source: string, gen: number, offset: number }

const KEY = Buffer.from('trace_id"')
const MAX_PENDING = 64 * 1024
const MAX_ID = 128

interface Pending { gen: number, offset: number, bytes: Buffer }

export class TraceIndex {
  /** Trace id → flat triplets (source number, gen, offset): a third of the memory of objects per reference. */
  private readonly traces = new Map<string, number[]>()
  private readonly sourceNo = new Map<string, number>()
  private readonly sourceNames: string[] = []
  private readonly pending = new Map<string, Pending>()

  get size (): number { return this.traces.size }

  refs (id: string): TraceRef[] {
    const flat = this.traces.get(id) ?? []
    const out: TraceRef[] = []
    for (let i = 0; i < flat.length; i += 3) out.push({ source: this.sourceNames[flat[i]], gen: flat[i + 1], offset: flat[i + 2] })
    return out
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

  /** Feeds the next bytes of a source, which start at cursor `at`. */
  feed (source: string, at: Cursor, data: Buffer): void {
    const p = this.pending.get(source)
    let base: Cursor = at
    let buf = data
    if (p && p.gen === at.gen && p.offset + p.bytes.length === at.offset) {
      base = { gen: p.gen, offset: p.offset }
      buf = Buffer.concat([p.bytes, data])
    }
    const lastNl = buf.lastIndexOf(10)
    const complete = lastNl + 1
    const no = this.number(source)
    for (let hit = buf.indexOf(KEY); hit >= 0 && hit < complete; hit = buf.indexOf(KEY, hit + KEY.length)) {
      const id = TraceIndex.valueAfter(buf, hit, complete)
      if (id === null) continue
      const lineStart = buf.lastIndexOf(10, hit) + 1
      let refs = this.traces.get(id)
      if (!refs) { refs = []; this.traces.set(id, refs) }
      refs.push(no, base.gen, base.offset + lineStart)
    }
    const rest = buf.length - complete
    if (rest > 0 && rest <= MAX_PENDING) {
      this.pending.set(source, { gen: base.gen, offset: base.offset + complete, bytes: Buffer.from(buf.subarray(complete)) })
    } else {
      this.pending.delete(source)
    }
  }

  /** The JSON string after `"trace_id"` or `"x_trace_id"` at `hit`, if the key is one of those. */
  private static valueAfter (buf: Buffer, hit: number, limit: number): string | null {
    const quote = hit - 1
    if (quote < 0) return null
    const opening = buf[quote] === 0x22 ? quote : (quote >= 2 && buf[quote] === 0x5f && buf[quote - 1] === 0x78 && buf[quote - 2] === 0x22 ? quote - 2 : -1)
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
    const nl = buf.indexOf(10, start)
    if (nl >= 0 && nl < close) return null
    return buf.toString('utf8', start, close)
  }

  /** Forgets references the predicate rejects (their bytes were removed by retention). */
  retain (keep: (ref: TraceRef) => boolean): void {
    for (const id of [...this.traces.keys()]) {
      const kept = this.refs(id).filter(keep)
      if (kept.length === 0) this.traces.delete(id)
      else this.traces.set(id, kept.flatMap(r => [this.number(r.source), r.gen, r.offset]))
    }
  }
}
