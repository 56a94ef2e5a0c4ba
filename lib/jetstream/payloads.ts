// The bytes of a gateway's extents: each extent is one JetStream message, fetched by direct get from any replica
// and kept in a bounded cache. Synchronous reads (query/lines.ts walks lines with them) can only be served from the
// cache; a miss throws Missing, and the store's `query` fetches what was missing and runs the query again.
import type { JetStreamManager, StoredMsg } from '@nats-io/jetstream'
import type { Extent, ExtentReader, SourceIndex } from '../store/source'
import type { Pieces } from '../store/pieces'

/** A gateway's extent: one message of a tenant's stream. */
export interface MessageExtent extends Extent {
  stream: string
  /** Its stream sequence. */
  seq: number
  src: SourceIndex<MessageExtent>
}

/** Which message: a stream and its sequence. */
type MessageAt = Pick<MessageExtent, 'stream' | 'seq'>

export class Missing extends Error {
  override name = 'Missing'
  constructor (readonly e: MessageExtent) { super(`message ${e.seq} of ${e.stream} is not fetched`) }
}

/** A message retention removed after the index listed it. */
export class Gone extends Error {
  override name = 'Gone'
  constructor (readonly m: MessageAt) { super(`message ${m.seq} of ${m.stream} is gone (retention)`) }
}

/** A query that misses fetches the message and neighbours of it up to this many bytes, in parallel. */
const PREFETCH_BYTES = 1024 * 1024
const PREFETCH_PARALLEL = 16

const key = (m: MessageAt): string => `${m.stream}\n${m.seq}`

export class Payloads implements ExtentReader<MessageExtent> {
  /** Insertion order is recency: a hit moves its entry to the end, eviction takes from the front. */
  private readonly cache = new Map<string, Uint8Array>()
  private readonly inflight = new Map<string, Promise<Uint8Array>>()
  private cachedBytes = 0
  fetchedBytes = 0
  fetches = 0
  /**
   * Bytes of this gateway's publishes not yet acknowledged, by stream and message id (a message id names a source's
   * run, and two tenants' streams may hold sources of one name): the stream may deliver a message to a follower (the
   * filter builder) before its acknowledgement comes back and its bytes are put in the cache.
   */
  private readonly unacked = new Map<string, Uint8Array>()

  constructor (private readonly jsm: JetStreamManager, private readonly maxBytes: number,
    private readonly onGone: (m: MessageAt) => void) {}

  has (m: MessageAt): boolean { return this.cache.has(key(m)) }

  readSync (e: MessageExtent, from: number, length: number, out: Buffer, at: number): void {
    const k = key(e)
    const data = this.cache.get(k)
    if (data === undefined) throw new Missing(e)
    this.cache.delete(k)
    this.cache.set(k, data)
    out.set(data.subarray(from, from + length), at)
  }

  /** The pieces' messages one at a time, each from the cache or fetched. */
  async read (p: Pieces<MessageExtent>, out: Buffer): Promise<void> {
    for (let k = 0; k < p.count; k++) {
      const data = await this.fetch(p.extents[k])
      out.set(data.subarray(p.start(k), p.start(k) + p.size(k)), p.offsets[k])
    }
  }

  /** For a walk that met `missing`: it and the messages of its source around it, up to PREFETCH_BYTES. */
  async fetchAround (missing: MessageExtent): Promise<void> {
    // Its source may have been released since the walk met it: then only the one message.
    const x = missing.src.heldEntries ?? []
    const i = x.indexOf(missing)
    const want: MessageExtent[] = [missing]
    let bytes = i >= 0 ? x[i].length : 0
    for (let k = 1; i >= 0 && bytes < PREFETCH_BYTES && (i + k < x.length || i - k >= 0); k++) {
      for (const j of [i + k, i - k]) {
        if (j < 0 || j >= x.length || this.has(x[j])) continue
        want.push(x[j])
        bytes += x[j].length
      }
    }
    for (let k = 0; k < want.length; k += PREFETCH_PARALLEL) {
      await Promise.all(want.slice(k, k + PREFETCH_PARALLEL).map(s => this.fetch(s)))
    }
  }

  /** A message's bytes: cached, published under `id` and not yet acknowledged, or fetched. */
  fetch (m: MessageAt, id = ''): Promise<Uint8Array> {
    const k = key(m)
    const data = this.cache.get(k) ?? this.unacked.get(`${m.stream}\n${id}`)
    if (data !== undefined) return Promise.resolve(data)
    let p = this.inflight.get(k)
    if (!p) {
      p = this.get(m).finally(() => this.inflight.delete(k))
      this.inflight.set(k, p)
    }
    return p
  }

  private async get (at: MessageAt): Promise<Uint8Array> {
    // A replica that has not applied the message yet answers "not found"; the leader then has it, unless
    // retention removed it.
    let m: StoredMsg | null = await this.jsm.direct.getMessage(at.stream, { seq: at.seq })
    if (m === null) m = await this.jsm.streams.getMessage(at.stream, { seq: at.seq }).catch(() => null)
    if (m === null) {
      this.onGone(at)
      throw new Gone(at)
    }
    this.fetches++
    this.fetchedBytes += m.data.length
    // The client hands the payload as a view of the buffer the socket read it in, which may hold other messages:
    // cached as it is, a message would keep that whole buffer alive past the cache's bound.
    const data = Uint8Array.prototype.slice.call(m.data)
    this.keep(key(at), data)
    return data
  }

  /** A publish of `data` to `stream` under message id `id` is under way (until `sent`). */
  sending (stream: string, id: string, data: Uint8Array): void { this.unacked.set(`${stream}\n${id}`, data) }

  sent (stream: string, id: string): void { this.unacked.delete(`${stream}\n${id}`) }

  /** Bytes this gateway just published: a follower of the source reads them without a round trip. */
  put (m: MessageAt, data: Uint8Array): void { this.keep(key(m), Uint8Array.prototype.slice.call(data)) }

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
      const [name, seq] = k.split('\n')
      if (name === stream && Number(seq) < first) { this.cache.delete(k); this.cachedBytes -= d.length }
    }
  }
}
