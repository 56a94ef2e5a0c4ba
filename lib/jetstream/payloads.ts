// The bytes of a gateway's extents: each extent is one JetStream message (SegmentRef.id is its stream sequence,
// .file its stream), fetched by direct get from any replica and kept in a bounded cache. Synchronous reads
// (query/lines.ts walks lines with them) can only be served from the cache; a miss throws Missing, and the
// store's `query` fetches what was missing and runs the query again.
import type { JetStreamManager, StoredMsg } from '@nats-io/jetstream'
import type { ExtentReader, SegmentRef } from '../store/source'

export class Missing extends Error {
  override name = 'Missing'
  constructor (readonly seg: SegmentRef) { super(`message ${seg.id} of ${seg.file} is not fetched`) }
}

/** A message retention removed after the index listed it. */
export class Gone extends Error {
  override name = 'Gone'
  constructor (readonly seg: SegmentRef) { super(`message ${seg.id} of ${seg.file} is gone (retention)`) }
}

const key = (seg: SegmentRef): string => `${seg.file}\n${seg.id}`

export class Payloads implements ExtentReader {
  /** Insertion order is recency: a hit moves its entry to the end, eviction takes from the front. */
  private readonly cache = new Map<string, Uint8Array>()
  private readonly inflight = new Map<string, Promise<Uint8Array>>()
  private cachedBytes = 0
  fetchedBytes = 0
  fetches = 0

  constructor (private readonly jsm: JetStreamManager, private readonly maxBytes: number,
    private readonly onGone: (seg: SegmentRef) => void) {}

  has (seg: SegmentRef): boolean { return this.cache.has(key(seg)) }

  readSync (seg: SegmentRef, out: Buffer, at: number, length: number, position: number): void {
    const k = key(seg)
    const data = this.cache.get(k)
    if (data === undefined) throw new Missing(seg)
    this.cache.delete(k)
    this.cache.set(k, data)
    out.set(data.subarray(position, position + length), at)
  }

  async read (seg: SegmentRef, out: Buffer, at: number, length: number, position: number): Promise<void> {
    const data = await this.fetch(seg)
    out.set(data.subarray(position, position + length), at)
  }

  fetch (seg: SegmentRef): Promise<Uint8Array> {
    const k = key(seg)
    const data = this.cache.get(k)
    if (data !== undefined) return Promise.resolve(data)
    let p = this.inflight.get(k)
    if (!p) {
      p = this.get(seg).finally(() => this.inflight.delete(k))
      this.inflight.set(k, p)
    }
    return p
  }

  private async get (seg: SegmentRef): Promise<Uint8Array> {
    // A replica that has not applied the message yet answers "not found"; the leader then has it, unless
    // retention removed it.
    let m: StoredMsg | null = await this.jsm.direct.getMessage(seg.file, { seq: seg.id })
    if (m === null) m = await this.jsm.streams.getMessage(seg.file, { seq: seg.id }).catch(() => null)
    if (m === null) {
      this.onGone(seg)
      throw new Gone(seg)
    }
    this.fetches++
    this.fetchedBytes += m.data.length
    this.keep(key(seg), m.data)
    return m.data
  }

  /** Bytes this gateway just published: a follower of the source reads them without a round trip. */
  put (seg: SegmentRef, data: Uint8Array): void { this.keep(key(seg), Uint8Array.prototype.slice.call(data)) }

  private keep (k: string, data: Uint8Array): void {
    this.cache.set(k, data)
    this.cachedBytes += data.length
    for (const [old, d] of this.cache) {
      if (this.cachedBytes <= this.maxBytes) break
      this.cache.delete(old)
      this.cachedBytes -= d.length
    }
  }

  /** Forgets the messages of `stream` below `first` (retention removed them). */
  dropBelow (stream: string, first: number): void {
    for (const [k, d] of this.cache) {
      const [file, id] = k.split('\n')
      if (file === stream && Number(id) < first) { this.cache.delete(k); this.cachedBytes -= d.length }
    }
  }
}
