// A gateway's token filters over every tenant stream: per stream a view of its groups (filter-view.ts) and a
// builder that builds while this gateway holds the stream's lease (filter-builder.ts); and the search side,
// `candidates`, which is synchronous as the query walks are: a partition not in the cache throws FiltersMissing,
// and the store's `walk` fetches every partition the search named and runs it again.
import type { KV } from '@nats-io/kv'
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream'
import type { Piece, SourceIndex } from '../store/source'
import type { StoreMetric } from '../store/log-store'
import { streamBucketKey } from './subjects'
import type { MessageExtent, Payloads } from './payloads'
import { MAX_TOKEN } from '../store/tokens'
import { FilterBuilder } from './filter-builder'
import { FilterView } from './filter-view'
import { openBucket } from './buckets'
import type { Previous } from './filter-blocks'
import type { Delivered } from './mirror'
import type { Feed } from './mirror-tap'
import { FILTERS_BUCKET_PREFIX, blockOfSeq, groupMayHold, partitionKey, partitionOf, type Group } from './filter-format'

/** Partition bytes a gateway keeps for searches (at least what one search needs). */
const CACHE_BYTES = 16 * 1024 * 1024
const FETCH_PARALLEL = 16

/** Partitions a search needs that are not in the cache. */
export class FiltersMissing extends Error {
  override name = 'FiltersMissing'
  constructor (readonly wanted: Array<{ view: FilterView, key: string }>) {
    super(`${wanted.length} token filter partitions are not fetched`)
  }
}

interface Followed { view: FilterView, feed: Feed<Delivered>, builder?: FilterBuilder }

export class TokenFilters {
  private readonly streams = new Map<string, Followed>()
  /** Partitions by bucket and key; insertion order is recency. An empty array: unreadable, rules nothing out. */
  private readonly cache = new Map<string, Uint8Array>()
  private cachedBytes = 0
  private closed = false
  fetchedBytes = 0

  constructor (private readonly js: JetStreamClient, private readonly jsm: JetStreamManager,
    private readonly replicas: number, private readonly payloads: Payloads, private readonly previous: Previous) {}

  /** Starts following (and building) the filters of `stream`, whose messages `feed` delivers. */
  follow (stream: string, feed: Feed<Delivered>): void {
    if (this.streams.has(stream)) return
    const bucket = FILTERS_BUCKET_PREFIX + streamBucketKey(stream)
    const view = new FilterView(bucket, () => openBucket(this.js, bucket, this.replicas))
    view.start()
    const followed: Followed = { view, feed }
    this.streams.set(stream, followed)
    void this.startBuilder(stream, followed)
  }

  private async startBuilder (stream: string, f: Followed): Promise<void> {
    const kv = await this.bucketOf(f.view)
    if (kv === null) return
    f.builder = new FilterBuilder(this.js, this.jsm, kv, f.view.bucket, stream, this.payloads, this.previous,
      () => f.view.groups, f.feed)
    f.builder.start()
  }

  private async bucketOf (view: FilterView): Promise<KV | null> {
    while (!this.closed) {
      if (view.kv !== null) return view.kv
      await new Promise(resolve => setTimeout(resolve, 200))
    }
    return null
  }

  /**
   * Per source `wanted` accepts, the parts of its messages that may hold every token of `hashes`: whole messages,
   * of the blocks whose filters allow them, and every message no group covers yet (marked `unindexed`).
   */
  candidates (sources: Iterable<SourceIndex<MessageExtent>>, hashes: number[],
    wanted: (s: SourceIndex) => boolean): Map<SourceIndex, Piece[]> {
    const out = new Map<SourceIndex, Piece[]>()
    const allowed = new Map<Group, Uint8Array | null>()
    const missing: Array<{ view: FilterView, key: string }> = []
    for (const s of sources) {
      if (!wanted(s)) continue
      const pieces: Piece[] = []
      for (const e of s.extents) {
        const view = this.streams.get(e.stream)?.view
        const g = view?.groupOf(e.seq) ?? null
        if (g === null) {
          pieces.push({ e, from: 0, to: e.length, unindexed: true })
          continue
        }
        let bits = allowed.get(g)
        if (bits === undefined) {
          bits = this.mayHold(view!, g, hashes, missing)
          allowed.set(g, bits)
        }
        if (bits === null) continue
        const k = blockOfSeq(g, e.seq)
        if ((bits[k >> 3] & (1 << (k & 7))) !== 0) pieces.push({ e, from: 0, to: e.length })
      }
      if (pieces.length > 0) out.set(s, pieces)
    }
    if (missing.length > 0) throw new FiltersMissing(missing)
    return out
  }

  /** g's blocks that may hold every token, or null when a partition it needs is not cached (added to `missing`). */
  private mayHold (view: FilterView, g: Group, hashes: number[], missing: Array<{ view: FilterView, key: string }>):
    Uint8Array | null {
    const parts = new Map<number, Uint8Array>()
    for (const pp of new Set(hashes.map(partitionOf))) {
      const key = partitionKey(g.first, g.id, pp)
      const bits = this.cache.get(`${view.bucket}\n${key}`)
      if (bits === undefined) {
        missing.push({ view, key })
      } else {
        this.keep(`${view.bucket}\n${key}`, bits)
        parts.set(pp, bits)
      }
    }
    if (parts.size < new Set(hashes.map(partitionOf)).size) return null
    return groupMayHold(g, hashes, pp => {
      const bits = parts.get(pp)!
      return bits.length === 0 ? null : bits
    })
  }

  /** Caches (or marks as just used) a partition. */
  private keep (k: string, bits: Uint8Array): void {
    this.cachedBytes += bits.length - (this.cache.get(k)?.length ?? 0)
    this.cache.delete(k)
    this.cache.set(k, bits)
  }

  /** Fetches the partitions a search found missing, FETCH_PARALLEL at a time; they stay cached for its rerun. */
  async fetch (m: FiltersMissing): Promise<void> {
    const fresh = new Set<string>()
    for (let i = 0; i < m.wanted.length; i += FETCH_PARALLEL) {
      await Promise.all(m.wanted.slice(i, i + FETCH_PARALLEL).map(async ({ view, key }) => {
        const e = view.kv === null ? null : await view.kv.get(key)
        // A partition retention removed under its descriptor: the group's messages are read whole.
        const bits = e !== null && e.operation === 'PUT' ? e.value : new Uint8Array(0)
        const k = `${view.bucket}\n${key}`
        this.fetchedBytes += bits.length
        fresh.add(k)
        this.keep(k, bits)
      }))
    }
    // The oldest go first, never one this search is about to use, so its rerun finds every one it named.
    for (const [k, d] of this.cache) {
      if (this.cachedBytes <= CACHE_BYTES) break
      if (fresh.has(k)) continue
      this.cache.delete(k)
      this.cachedBytes -= d.length
    }
  }

  metrics (): StoreMetric[] {
    const groups = (): Group[] => [...this.streams.values()].flatMap(f => f.view.groups)
    return [
      { name: 'logfs_jetstream_filter_groups', type: 'gauge',
        help: 'Token filter groups in the cluster this gateway knows.', value: () => groups().length },
      { name: 'logfs_jetstream_filter_bytes', type: 'gauge',
        help: 'Bytes of the token filters in the cluster (one replica), over the groups this gateway knows.',
        value: () => groups().reduce((n, g) => n + g.filterBytes, 0) },
      { name: 'logfs_jetstream_filtered_bytes', type: 'gauge',
        help: 'Message bytes the token filters in the cluster cover, over the groups this gateway knows.',
        value: () => groups().reduce((n, g) => n + g.dataBytes, 0) },
      { name: 'logfs_jetstream_filter_groups_written_total', type: 'counter',
        help: 'Token filter groups this gateway built and committed.',
        value: () => [...this.streams.values()].reduce((n, f) => n + (f.builder?.groupsWritten ?? 0), 0) },
      { name: 'logfs_jetstream_filter_fetched_bytes_total', type: 'counter',
        help: 'Token filter partition bytes fetched from the cluster for searches.', value: () => this.fetchedBytes },
    ]
  }

  async close (): Promise<void> {
    this.closed = true
    for (const { view } of this.streams.values()) view.stop()
    await Promise.all([...this.streams.values()].map(async f => { await f.builder?.stop() }))
  }
}

/**
 * The last MAX_TOKEN bytes of the message before `m` in its source (same generation, ending where m begins), from
 * the gateway's index and its message cache; null when the index does not list it or it cannot be fetched.
 */
export function previousIn (source: (name: string) => SourceIndex<MessageExtent> | undefined,
  payloads: Payloads, hold: (s: SourceIndex<MessageExtent>) => Promise<void>): Previous {
  return async m => {
    const s = source(m.source)
    const find = (x: readonly MessageExtent[]): MessageExtent | undefined => {
      for (let i = x.length - 1; i >= 0; i--) {
        if (x[i].gen === m.gen && x[i].offset + x[i].length === m.offset) return x[i]
      }
      return undefined
    }
    // A released source's latest entries stay in memory: its pages are fetched only for an older one.
    let e = s === undefined ? undefined : find(s.heldEntries ?? s.addedSince)
    if (e === undefined && s !== undefined && !s.held) {
      await hold(s)
      e = find(s.heldEntries ?? [])
    }
    if (e === undefined) return null
    const data = await payloads.fetch(e).catch(() => null)
    return data === null ? null : data.subarray(Math.max(0, data.length - MAX_TOKEN))
  }
}
