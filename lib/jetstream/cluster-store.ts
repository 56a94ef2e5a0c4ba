// The store of a gateway: logfs server in front of a JetStream cluster (`--store nats://...`). It keeps no state
// of its own: its index of every source (the same SourceIndex the embedded store keeps) is loaded from the index
// snapshots in the cluster and the tenant streams' headers after them when it starts, and followed from then on,
// and the bytes stay in the cluster, fetched when a query reads them. Any number of gateways may run against one
// cluster; each answers every read.
import { EventEmitter } from 'node:events'
import type { NatsConnection } from '@nats-io/nats-core'
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream'
import { NotHeld, SourceIndex, type Cursor, type Piece } from '../store/source'
import {
  describeSources, oldestOf, readFrom, type AppendResult, type Entry, type LogStore, type SourceInfo, type StoreMetric,
} from '../store/log-store'
import { splitSource } from '../util/sources'
import { log } from '../util/log'
import { MessageError, readRun, type RunMeta } from './message'
import { STREAM_PREFIX, sourceOfSubject, streamName } from './subjects'
import { ensureStream, type StreamLimits } from './streams'
import { MIN_STREAM_BYTES, NoRoom, accountWarning } from './room'
import { StreamMirror, type Delivered } from './mirror'
import { Missing, Payloads, type MessageExtent } from './payloads'
import { Publisher } from './publisher'
import { connectCluster, ready } from './connect'
import { applySnapshot } from './snapshot'
import { IndexSnapshots } from './snapshots'
import { HELD_ENTRIES, IndexPages } from './pages'
import { KvClaims } from './claims'
import { KvMarks } from './marks'
import { FiltersMissing, TokenFilters, previousIn } from './token-filters'

export interface ClusterOptions extends StreamLimits {
  /** Seed servers, `host:port`. */
  servers: string[]
  /** Bytes of messages a gateway keeps in memory for reads. */
  cacheBytes?: number
  /** Messages beyond a stream's index snapshot before this gateway writes a new one (0: never). */
  snapshotEvery?: number
  /** False: build and use no token filters (`--no-token-filters`); a search reads its whole range. */
  tokenFilters?: boolean
  /** Paged index entries held in memory (`--index-entries`); beyond them, the least used sources' are let go. */
  heldEntries?: number
}

const CACHE_BYTES = 64 * 1024 * 1024
/** A query that needs more fetch rounds than this is reading more than a query should. */
const MAX_ROUNDS = 256
const DISCOVER_MS = 5000
/** Room for headers in a message, under the cluster's max_payload. */
const HEADER_ROOM = 4096
/** Agents send a refused batch again within 5 s (their longest backoff); a refusal this old is not news. */
const NO_ROOM_FRESH_MS = 30_000

export class ClusterStore extends EventEmitter implements LogStore {
  private readonly sources = new Map<string, SourceIndex<MessageExtent>>()
  private readonly lastSeqs = new Map<string, number>()
  private readonly mirrors = new Map<string, StreamMirror>()
  private readonly ensuring = new Map<string, Promise<StreamMirror>>()
  /** Per tenant whose stream this gateway set up, its max_bytes. */
  private readonly granted = new Map<string, number>()
  /** Per tenant whose stream the cluster had no room for, why and when it was last refused. */
  private readonly noRoom = new Map<string, { reason: string, at: number }>()
  private readonly floorBytes: number
  private readonly payloads: Payloads
  private readonly publisher: Publisher
  private readonly snapshots: IndexSnapshots
  private readonly pages: IndexPages
  private readonly filters: TokenFilters | null
  private readonly timer: NodeJS.Timeout
  private connected = true
  private closed = false
  private refused = 0
  private unreadable = 0
  private staleReads = 0
  /** Node claims and emptied sources' marks, in the cluster's buckets: set up by open(). */
  claims?: KvClaims
  private marks?: KvMarks

  private constructor (private readonly nc: NatsConnection, private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager, private readonly options: ClusterOptions) {
    super()
    this.payloads = new Payloads(jsm, options.cacheBytes ?? CACHE_BYTES, m => {
      // Retention removed a message a query wanted: the mirror drops what is gone before the query runs again.
      void this.mirrors.get(m.stream)?.settle().catch(() => {})
    })
    const maxRun = Math.max(HEADER_ROOM, nc.info!.max_payload - HEADER_ROOM)
    // A stream must hold a few of the largest messages, or retention would drop a run as it is stored.
    this.floorBytes = Math.max(MIN_STREAM_BYTES, 4 * nc.info!.max_payload)
    this.publisher = new Publisher(js, this, this.payloads, { maxRun, deadlineMs: 10_000 })
    this.pages = new IndexPages(() => this.snapshots.open(), options.heldEntries ?? HELD_ENTRIES,
      stream => this.mirrors.get(stream)?.first ?? 0)
    this.snapshots = new IndexSnapshots(js, jsm, { replicas: options.replicas, every: options.snapshotEvery }, {
      sources: () => this.sources.values(), lastSeq: s => this.lastSeq(s), mirrors: () => this.mirrors.values(),
      pages: this.pages,
    })
    this.filters = options.tokenFilters === false
      ? null
      : new TokenFilters(js, jsm, options.replicas, this.payloads,
        previousIn(name => this.sources.get(name), this.payloads, s => this.pages.load(s)))
    this.timer = setInterval(() => {
      this.pages.tick()
      void this.discover().then(() => this.expire()).catch(() => {})
    }, DISCOVER_MS)
    void this.watch()
  }

  /** Connects, and resolves once the index holds every message the cluster's logfs streams hold. */
  static async open (options: ClusterOptions): Promise<ClusterStore> {
    const nc = await connectCluster(options.servers)
    try {
      const jsm = await jetstreamManager(nc, { checkAPI: false })
      const account = await ready(jsm, options.servers)
      const warning = accountWarning(account, options.maxBytes, options.replicas)
      if (warning !== null) log('warn', 'jetstream', warning)
      const store = new ClusterStore(nc, jetstream(nc), jsm, options)
      store.claims = await KvClaims.open(store.js, options.replicas)
      store.marks = await KvMarks.open(store.js, options.replicas, source => store.indexOf(source).high)
      await store.restore()
      await store.settle()
      store.snapshots.start()
      return store
    } catch (err) {
      await nc.close()
      const at = options.servers.join(', ')
      throw new Error(`the NATS servers at ${at} do not serve JetStream: ${(err as Error).message}`)
    }
  }

  private async watch (): Promise<void> {
    for await (const s of this.nc.status()) {
      if (s.type === 'disconnect') {
        this.connected = false
        log('warn', 'jetstream', 'lost the connection to the cluster; reconnecting')
      } else if (s.type === 'reconnect') {
        this.connected = true
        log('info', 'jetstream', `reconnected to ${s.server}`)
      }
    }
  }

  get healthy (): boolean { return !this.closed && this.connected && !this.nc.isClosed() }
  get full (): boolean { return false }
  get refusedAppends (): number { return this.refused }

  /**
   * The cluster has no room for a tenant's stream. Only a batch of the tenant asks again, and a refused agent sends
   * one every few seconds: a refusal older than NO_ROOM_FRESH_MS is a tenant nobody writes to now.
   */
  get trouble (): string | null {
    const fresh = this.tenantsWithoutRoom()
    if (fresh.length === 0) return null
    const latest = fresh.reduce((a, b) => (b.at > a.at ? b : a))
    return fresh.length === 1 ? latest.reason : `${fresh.length} tenants have no room; latest: ${latest.reason}`
  }

  private tenantsWithoutRoom (): Array<{ reason: string, at: number }> {
    const since = Date.now() - NO_ROOM_FRESH_MS
    return [...this.noRoom.values()].filter(r => r.at >= since)
  }

  private async streamNames (): Promise<string[]> {
    const names: string[] = []
    for await (const name of this.jsm.streams.names()) if (name.startsWith(STREAM_PREFIX)) names.push(name)
    return names
  }

  /** Follows every logfs stream in the cluster, those other gateways created included. */
  private async discover (): Promise<void> {
    for (const name of await this.streamNames()) this.mirrorOf(name)
  }

  /** Fills the index from the streams' snapshots in the cluster; each stream is followed from after its own. */
  private async restore (): Promise<void> {
    await this.snapshots.load(await this.streamNames(), s => {
      if (this.mirrors.has(s.stream)) return null
      const n = applySnapshot(s, name => this.indexOf(name), this.lastSeqs, (src, p) => this.pages.adopt(src, p))
      this.mirrorOf(s.stream, s.seq)
      return n
    })
  }

  /** What retention removed leaves the index within DISCOVER_MS, not only at a read (which does not wait for it). */
  private async expire (): Promise<void> {
    for await (const info of this.jsm.streams.list()) {
      this.mirrors.get(info.config.name)?.retained(info.state.first_seq)
    }
  }

  private mirrorOf (stream: string, from = 0): StreamMirror {
    let m = this.mirrors.get(stream)
    if (!m) {
      m = new StreamMirror(this.js, this.jsm, stream, d => this.deliver(d), (s, first) => this.trim(s, first))
      this.mirrors.set(stream, m)
      m.start(from)
      this.filters?.follow(stream, m)
    }
    return m
  }

  private async settle (): Promise<void> {
    await this.discover()
    await Promise.all([...this.mirrors.values()].map(m => m.settle()))
  }

  streamFor (tenant: string): Promise<StreamMirror> {
    let p = this.ensuring.get(tenant)
    if (!p) {
      p = ensureStream(this.jsm, tenant, this.options, this.floorBytes).then(({ name, maxBytes }) => {
        this.granted.set(tenant, maxBytes)
        if (this.noRoom.delete(tenant)) log('info', 'jetstream', `tenant ${tenant}: the cluster has room for it now`)
        return this.mirrorOf(name)
      })
      p.catch((err: Error) => {
        this.ensuring.delete(tenant)
        if (!(err instanceof NoRoom)) return
        // Logged once per episode; every batch refused meanwhile is nacked with the same message.
        if (!this.noRoom.has(tenant)) log('error', 'jetstream', err.message)
        this.noRoom.set(tenant, { reason: err.message, at: Date.now() })
      })
      this.ensuring.set(tenant, p)
    }
    return p
  }

  high (source: string, gen: number): number { return this.sources.get(source)?.high.get(gen) ?? 0 }

  lastSeq (source: string): number { return this.lastSeqs.get(source) ?? 0 }

  published (mirror: StreamMirror, seq: number, source: string, run: RunMeta, data: Uint8Array): void {
    // The consumer may have delivered it already, in the same turn as the acknowledgement: indexed then, and its
    // bytes are kept all the same (about half of them at the ingest ceiling, which the filter builder then
    // fetched back from the cluster).
    if (seq > mirror.applied) {
      mirror.published(seq)
      this.add(mirror.stream, seq, source, { ...run, length: data.length })
    }
    this.payloads.put({ stream: mirror.stream, seq }, data)
  }

  private deliver (d: Delivered): void {
    const source = sourceOfSubject(d.subject)
    try {
      if (source === null) throw new MessageError(`subject ${d.subject} is not a logfs source`)
      this.add(d.stream, d.seq, source, readRun(d.headers, 0))
    } catch (err) {
      if (!(err instanceof MessageError)) throw err
      if (this.unreadable++ === 0) log('warn', 'jetstream', `skipped message ${d.seq} of ${d.stream}: ${err.message}`)
    }
  }

  private indexOf (source: string): SourceIndex<MessageExtent> {
    let s = this.sources.get(source)
    if (!s) {
      const { node, tenant } = splitSource(source)
      s = new SourceIndex(source, node, tenant, this.payloads)
      this.sources.set(source, s)
    }
    return s
  }

  private add (stream: string, seq: number, source: string, run: RunMeta & { length: number }): MessageExtent {
    const s = this.indexOf(source)
    const high = s.high.get(run.gen) ?? 0
    if (run.offset > high) s.gapBytes += run.offset - high
    const { gen, offset, length, timestamp } = run
    const e: MessageExtent = { gen, offset, length, timestamp, stream, seq, src: s }
    s.add(e)
    this.lastSeqs.set(source, Math.max(seq, this.lastSeqs.get(source) ?? 0))
    this.emit('append', s)
    return e
  }

  private trim (stream: string, first: number): void {
    for (const s of this.sources.values()) {
      if (streamName(s.tenant) !== stream) continue
      const before = s.count
      this.pages.retained(s, first)
      // Held (a released source that lost every entry is held again, empty): retention cuts its entries in place.
      const x = s.heldEntries
      if (x !== null) s.retain(e => e.seq >= first)
      if (s.count === before) continue
      // The subject's last message may be gone too: the next publish must expect what is left (0 for nothing).
      if (x !== null) this.lastSeqs.set(s.source, x.reduce((m, e) => Math.max(m, e.seq), 0))
      if (s.count === 0) this.marks?.save(s.source, s.high)
    }
    this.payloads.dropBelow(stream, first)
  }

  async append (entries: Entry[]): Promise<AppendResult> {
    try {
      if (this.closed) throw new Error('gateway is stopping')
      return await this.publisher.append(entries)
    } catch (err) {
      this.refused++
      throw err
    }
  }

  listSources (allowed: (tenant: string) => boolean): SourceInfo[] {
    return describeSources(this.sources.values(), allowed)
  }

  source (name: string): SourceIndex | undefined { return this.sources.get(name) }
  allSources (): IterableIterator<SourceIndex> { return this.sources.values() }
  oldest (): number | null { return oldestOf(this.sources.values()) }

  read (source: string, from: Cursor | null, maxBytes: number): { data: Buffer, next: Cursor | null } {
    const s = this.sources.get(source)
    if (!s) throw new Error(`unknown source ${source}`)
    return readFrom(s, from, maxBytes)
  }

  /** From the token filters gateways build in the cluster; null with `--no-token-filters` (a search reads all). */
  candidates (hashes: number[], wanted: (s: SourceIndex) => boolean): Map<SourceIndex, Piece[]> | null {
    return this.filters?.candidates(this.sources.values(), hashes, wanted) ?? null
  }

  async query<T> (fn: () => T | Promise<T>): Promise<T> {
    try {
      await this.settle()
    } catch (err) {
      // No leader to ask (an election under way, the cluster cut off): answer from the index as it is, which
      // holds every batch this gateway acknowledged and what it had seen of the others.
      if (this.staleReads++ === 0 || this.staleReads % 100 === 0) {
        const why = (err as Error).message
        log('warn', 'jetstream', `answering from the index as it is (${this.staleReads} such reads): ${why}`)
      }
    }
    return await this.walk(fn)
  }

  async walk<T> (fn: () => T | Promise<T>): Promise<T> {
    for (let round = 0; ; round++) {
      try {
        return await fn()
      } catch (err) {
        if (round >= MAX_ROUNDS) throw err
        if (err instanceof FiltersMissing) await this.filters!.fetch(err)
        else if (err instanceof Missing) await this.payloads.fetchAround(err.e)
        else if (err instanceof NotHeld) await this.pages.loadAll(err.sources as Array<SourceIndex<MessageExtent>>)
        else throw err
      }
    }
  }

  metrics (): StoreMetric[] {
    const gauge = (name: string, help: string, value: StoreMetric['value'], labels?: string[]): StoreMetric =>
      ({ name, help, type: 'gauge', value, labels })
    const counter = (name: string, help: string, value: () => number): StoreMetric =>
      ({ name, help, type: 'counter', value })
    const total = (of: (s: SourceIndex<MessageExtent>) => number) => (): number => {
      let n = 0
      for (const s of this.sources.values()) n += of(s)
      return n
    }
    return [
      gauge('logfs_store_sources', 'Sources known to the store.', () => this.sources.size),
      gauge('logfs_jetstream_bytes', 'Log bytes the gateway index lists, over every stream.', total(s => s.bytes)),
      gauge('logfs_jetstream_messages', 'Messages the gateway index lists.', total(s => s.count)),
      gauge('logfs_jetstream_streams', 'Tenant streams the gateway follows.', () => this.mirrors.size),
      gauge('logfs_jetstream_stream_max_bytes',
        "A tenant stream's max_bytes as this gateway set it up: --retention-size, or less where it did not fit.",
        () => [...this.granted].map(([tenant, n]) => [{ tenant }, n]), ['tenant']),
      gauge('logfs_jetstream_streams_fitted',
        'Tenant streams this gateway set up smaller than --retention-size: the cluster had no room for more.',
        () => [...this.granted.values()].filter(n => n < this.options.maxBytes).length),
      gauge('logfs_jetstream_streams_without_room',
        "Tenants whose stream the cluster has no room for at any size: their batches are nacked unavailable.",
        () => this.tenantsWithoutRoom().length),
      gauge('logfs_jetstream_connected', '1 while the gateway is connected to the cluster.',
        () => this.healthy ? 1 : 0),
      counter('logfs_jetstream_conflicts_total',
        'Publishes refused for an expected last subject sequence: another gateway had written the source.',
        () => this.publisher.conflicts),
      counter('logfs_jetstream_publish_retries_total',
        'Publishes tried again after a timeout or while the cluster had no leader for the stream.',
        () => this.publisher.retries),
      counter('logfs_jetstream_stale_reads_total',
        'Reads answered without first catching up with the cluster, which could not be asked.',
        () => this.staleReads),
      counter('logfs_jetstream_fetched_bytes_total', 'Log bytes fetched from the cluster for reads.',
        () => this.payloads.fetchedBytes),
      counter('logfs_jetstream_unreadable_total', 'Messages in logfs streams that are not logfs runs, skipped.',
        () => this.unreadable),
      ...this.snapshots.metrics(),
      ...this.pages.metrics(() => this.sources.values()),
      ...this.filters?.metrics() ?? [],
    ]
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    clearInterval(this.timer)
    this.snapshots.stop()
    await Promise.all([...this.mirrors.values()].map(m => m.stop()))
    await this.filters?.close()
    await this.claims?.close()
    await this.marks?.close()
    await this.nc.drain().catch(() => {})
  }
}
