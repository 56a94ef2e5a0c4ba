// The embedded durable store: append-only segment files on local disk, a directory of them per tenant
// (tenant-segments.ts), an in-memory index per source (its extents) read on open from the sealed segments'
// sidecars, per-segment token filters for queries (segment-index.ts, built by the indexer off the ingest thread),
// exactly-once by (source, gen, offset), and retention by age and size per tenant (reclaim.ts).
import { EventEmitter } from 'node:events'
import { encodeEntry, type EntryRef } from './segment'
import type { Segment } from './segments'
import { TenantSegmentSets, type TenantSegments } from './tenant-segments'
import { DiskState, noSpace } from './disk-state'
import { migrateFormat1 } from './migrate'
import { segmentBytesFor, type Retention } from './tenant-retention'
import { Reclaim } from './reclaim'
import { loadMarks } from './marks'
import { SourceIndex, type Cursor, type Extent, type Piece } from '../source'
import { SegmentIndex } from './segment-index'
import { segmentReader, type SegmentExtent } from './segment-reader'
import { Indexer } from './indexer'
import { Sidecar, SidecarError, sidecarFile } from './sidecar'
import { log } from '../../util/log'
import {
  describeSources, oldestOf, readFrom, type AppendResult, type Entry, type LogStore, type SourceInfo, type StoreMetric,
} from '../log-store'
import { splitSource } from '../../util/sources'

export interface StoreOptions {
  dir: string
  segmentBytes: number
  /** Each tenant's retention when `retention` is not given. */
  retentionBytes: number
  retentionMs: number
  /** A tenant's retention (a server's limits, which may change while the store runs). */
  retention?: (tenant: string) => Retention
}

/** Segments a store deletes at most to make room for one batch on a disk running short. */
const MAX_EVICTIONS = 16

/** One tenant's part of a batch: its encoded entries, and where each entry's data lies from the part's start. */
interface Part { tenant: string, bufs: Buffer[], refs: EntryRef[], at: number }

/** Emits `append` (source: SourceIndex) after new bytes of a source are durable. */
export class Store extends EventEmitter implements LogStore {
  private readonly sources = new Map<string, SourceIndex<SegmentExtent>>()
  private readonly disk: DiskState
  private readonly tenants: TenantSegmentSets
  private readonly reclaim: Reclaim
  private readonly indexes = new Map<Segment, SegmentIndex>()
  private readonly indexer = new Indexer()
  /** Sealed segments found without a usable sidecar, rebuilt one after another in the background. */
  private rebuilds: Promise<void> = Promise.resolve()
  private retentionTimer: NodeJS.Timeout | null = null
  private closed = false
  private refused = 0

  private constructor (readonly options: StoreOptions) {
    super()
    this.disk = new DiskState(options.dir)
    this.tenants = new TenantSegmentSets(options.dir, this.disk, t => this.segmentBytesOf(t))
    this.reclaim = new Reclaim({
      dir: options.dir,
      tenants: this.tenants,
      retentionOf: t => this.retentionOf(t),
      marks: () => [...this.sources.values()].map(s => [s.source, s.high]),
      forget: (seg, tenant) => {
        this.indexes.get(seg)?.close()
        this.indexes.delete(seg)
        // Sources stay known even when all their bytes are gone: their high-water marks still stop resends.
        for (const s of this.sources.values()) {
          if (s.tenant === tenant) s.retain(e => e.seg !== seg)
        }
      },
      detachSidecar: seg => this.indexes.get(seg)?.detach(),
    })
  }

  static open (options: StoreOptions): Store {
    const store = new Store(options)
    store.load()
    return store
  }

  get totalBytes (): number { return this.tenants.totalBytes }
  get segmentCount (): number { return this.tenants.segmentCount }
  get sourceCount (): number { return this.sources.size }
  /** False once an fsync failed: the store then refuses writes until restarted. */
  get healthy (): boolean { return this.disk.failed === null && !this.closed }
  /** True while batches are refused for lack of space in the data dir. */
  get full (): boolean { return this.disk.full }
  /** A full disk is not: /readyz stays 200 through it, so reads go on and agents are not sent away for nothing. */
  get trouble (): null { return null }
  /** Appends that failed, each a batch the server nacked. */
  get refusedAppends (): number { return this.refused }

  private retentionOf (tenant: string): Retention {
    return this.options.retention?.(tenant) ?? { size: this.options.retentionBytes, ageMs: this.options.retentionMs }
  }

  private segmentBytesOf (tenant: string | null): number {
    const { segmentBytes } = this.options
    return tenant === null ? segmentBytes : segmentBytesFor(segmentBytes, this.retentionOf(tenant).size)
  }

  private load (): void {
    migrateFormat1(this.options.dir, this.disk, t => this.segmentBytesOf(t))
    const sidecars = new Map<string, Sidecar>()
    let unusable = 0
    const known = (file: string, size: number): EntryRef[] | null => {
      try {
        const { sidecar, entries } = Sidecar.open(sidecarFile(file), size)
        sidecars.set(file, sidecar)
        return entries
      } catch (err) {
        const missing = (err as NodeJS.ErrnoException).message.startsWith('ENOENT')
        if (!missing) {
          unusable++
          log('warn', 'store', `${sidecarFile(file)} is not usable, rebuilding it: ${(err as SidecarError).message}`)
        }
        return null
      }
    }
    const entries = this.tenants.open((ref, seg) => this.index(ref, seg), known)
    for (const [source, gens] of loadMarks(this.options.dir)) {
      const s = this.sourceFor(source)
      for (const [gen, offset] of gens) s.high.set(gen, Math.max(s.high.get(gen) ?? 0, offset))
    }
    const active = new Set([...this.tenants.all].map(t => t.segments.active))
    let rebuild = 0
    for (const [seg, si] of this.indexes) {
      const sidecar = sidecars.get(seg.file)
      if (sidecar) si.attach(sidecar)
      else if (!active.has(seg)) { rebuild++; this.rebuild(si, seg) }
    }
    for (const seg of active) this.resumeOpen(this.indexFor(seg), seg)
    if (entries > 0) {
      log('info', 'store', `opened ${this.options.dir}`, {
        tenants: active.size, segments: this.segmentCount, entries, sources: this.sources.size, bytes: this.totalBytes,
        rebuild, unusable,
      })
    }
    this.retentionTimer = setInterval(() => this.applyRetention(), 60_000)
    this.retentionTimer.unref()
  }

  /**
   * Takes up the open segment's index: from the sidecar a graceful stop wrote, when it covers the segment as it
   * is (after a crash, or once more was written, it does not), and builds the rest in the background.
   */
  private resumeOpen (si: SegmentIndex, seg: Segment): void {
    try {
      si.attachPrefix(Sidecar.open(sidecarFile(seg.file), seg.size).sidecar)
    } catch (err) {
      if (!(err instanceof SidecarError) || !err.message.startsWith('ENOENT')) {
        log('info', 'store', `building the open segment's index anew: ${(err as Error).message}`)
      }
    }
    this.indexer.grew(si)
  }

  /** Queues a sealed segment's sidecar to be rebuilt; until it is, queries read the segment whole. */
  private rebuild (si: SegmentIndex, seg: Segment): void {
    this.rebuilds = this.rebuilds.then(() => this.indexes.has(seg) ? this.indexer.seal(si, seg.size) : undefined)
  }

  private indexFor (seg: Segment): SegmentIndex {
    let si = this.indexes.get(seg)
    if (!si) {
      const broken = (why: string): void => {
        log('warn', 'store', `${sidecarFile(seg.file)} is corrupt, rebuilding it; its segment is read whole meanwhile`,
          { why })
        this.rebuild(this.indexFor(seg), seg)
      }
      si = new SegmentIndex(seg.id, seg.file, broken)
      this.indexes.set(seg, si)
    }
    return si
  }

  private sourceFor (name: string): SourceIndex<SegmentExtent> {
    let s = this.sources.get(name)
    if (!s) {
      const { node, tenant } = splitSource(name)
      s = new SourceIndex(name, node, tenant, segmentReader)
      this.sources.set(name, s)
    }
    return s
  }

  private index (ref: EntryRef, seg: Segment): SourceIndex<SegmentExtent> {
    const s = this.sourceFor(ref.source)
    const { gen, offset, length, timestamp, at } = ref
    const e: SegmentExtent = { gen, offset, length, timestamp, seg, at, src: s }
    s.add(e)
    this.indexFor(seg).add(e)
    seg.newest = Math.max(seg.newest, ref.timestamp)
    return s
  }

  /**
   * Appends the new part of each entry (resent bytes are skipped by the per-generation high-water mark) and
   * resolves once the bytes are on stable storage.
   */
  async append (entries: Entry[]): Promise<AppendResult> {
    try {
      return await this.appendBatch(entries)
    } catch (err) {
      this.refused++
      this.disk.countRefusal()
      throw err
    }
  }

  private async appendBatch (entries: Entry[]): Promise<AppendResult> {
    if (this.closed) throw new Error('store is closed')
    if (this.disk.failed) throw this.disk.failed
    let stored = 0
    let duplicate = 0
    // Each tenant's part of the batch goes to its own segments.
    const parts = new Map<string, Part>()
    const high = new Map<string, number>()
    const gaps: Array<[string, number]> = []
    for (const e of entries) {
      const key = `${e.gen}\n${e.source}`
      const h = high.get(key) ?? this.sources.get(e.source)?.high.get(e.gen) ?? 0
      const end = e.offset + e.data.length
      if (end <= h) { duplicate += e.data.length; continue }
      let entry = e
      if (e.offset < h) {
        duplicate += h - e.offset
        entry = { ...e, offset: h, data: e.data.subarray(h - e.offset) }
      } else if (e.offset > h) {
        gaps.push([e.source, e.offset - h])
      }
      high.set(key, end)
      const buf = encodeEntry(entry)
      const tenant = splitSource(entry.source).tenant
      const part = parts.get(tenant) ?? { tenant, bufs: [], refs: [], at: 0 }
      parts.set(tenant, part)
      part.bufs.push(buf)
      const length = entry.data.length
      const { source, gen, offset, timestamp } = entry
      part.refs.push({ source, gen, offset, timestamp, at: part.at + buf.length - length, length })
      part.at += buf.length
      stored += entry.data.length
    }
    if (parts.size > 0) {
      const written = this.write([...parts.values()])
      const touched = new Set<SourceIndex<SegmentExtent>>()
      for (const { part, set, start } of written) {
        const seg = set.segments.active
        for (const ref of part.refs) touched.add(this.index({ ...ref, at: start + ref.at }, seg))
        this.indexer.grew(this.indexFor(seg))
      }
      for (const [source, bytes] of gaps) this.gap(source, bytes)
      await Promise.all(written.map(w => w.set.segments.sync()))
      for (const s of touched) this.emit('append', s)
      for (const { set, seg } of written) this.rollIfFull(set, seg)
    }
    return { stored, duplicate }
  }

  /**
   * Writes each tenant's part to its segments, all of them or none (a part written before one that failed is cut
   * off again). Out of space, it deletes the oldest segment of the tenant furthest over its share and tries again.
   */
  private write (parts: Part[]): Array<{ part: Part, set: TenantSegments, seg: Segment, start: number }> {
    for (let evictions = 0; ; evictions++) {
      const done: Array<{ part: Part, set: TenantSegments, seg: Segment, start: number }> = []
      try {
        for (const part of parts) {
          const set = this.tenants.for(part.tenant)
          set.segments.segmentBytes = this.segmentBytesOf(part.tenant)
          const start = set.segments.write(Buffer.concat(part.bufs))
          done.push({ part, set, seg: set.segments.active, start })
        }
        this.disk.wrote()
        return done
      } catch (err) {
        for (const d of done.reverse()) d.set.segments.undo(d.start)
        if (!noSpace(err)) throw err
        if (evictions >= MAX_EVICTIONS || !this.reclaim.makeRoom()) throw this.disk.refuse(err as Error)
      }
    }
  }

  /** Once a batch made a tenant's active segment reach its size: seals it, starts the next, applies retention. */
  private rollIfFull (set: TenantSegments, seg: Segment): void {
    const segments = set.segments
    if (seg !== segments.active || seg.size < segments.segmentBytes || !segments.closeActive()) return
    void this.indexer.seal(this.indexFor(seg), seg.size)
    if (set.tenant !== null) this.applyRetention(Date.now(), [set])
  }

  private gap (source: string, bytes: number): void {
    const s = this.sources.get(source)
    if (s) s.gapBytes += bytes
    log('warn', 'store', `gap of ${bytes} bytes in ${source} (dropped by the agent or lost before it)`)
  }

  /** Applies each tenant's retention now (to `sets`, or every tenant): see reclaim.ts. */
  applyRetention (now = Date.now(), sets: Iterable<TenantSegments> = this.tenants.all): void {
    this.reclaim.applyRetention(now, sets)
  }

  listSources (allowed: (tenant: string) => boolean): SourceInfo[] {
    return describeSources(this.sources.values(), allowed)
  }

  source (name: string): SourceIndex | undefined {
    return this.sources.get(name)
  }

  allSources (): IterableIterator<SourceIndex> {
    return this.sources.values()
  }

  /** The time of the oldest retained byte, or null for an empty store. */
  oldest (): number | null {
    return oldestOf(this.sources.values())
  }

  read (source: string, from: Cursor | null, maxBytes: number): { data: Buffer, next: Cursor | null } {
    const s = this.sources.get(source)
    if (!s) throw new Error(`unknown source ${source}`)
    return readFrom(s, from, maxBytes)
  }

  /** The bytes are on this machine and the index is this store's own: a query runs as it is. */
  async query<T> (fn: () => T | Promise<T>): Promise<T> {
    return await fn()
  }

  async walk<T> (fn: () => T | Promise<T>): Promise<T> {
    return await fn()
  }

  metrics (): StoreMetric[] {
    const gauge = (name: string, help: string, value: () => number): StoreMetric =>
      ({ name, help, type: 'gauge', value })
    return [
      gauge('logfs_store_bytes', 'Bytes of segment files on disk.', () => this.totalBytes),
      gauge('logfs_store_segments', 'Segment files on disk.', () => this.segmentCount),
      gauge('logfs_store_sources', 'Sources known to the store.', () => this.sourceCount),
      gauge('logfs_store_indexed_segments', 'Sealed segments whose queries use their index sidecar.',
        () => this.indexStats().indexedSegments),
      gauge('logfs_store_index_bytes', 'Bytes of index sidecars on disk.', () => this.indexStats().indexBytes),
      gauge('logfs_store_full', '1 while batches are refused because the data dir has no space left.',
        () => this.full ? 1 : 0),
    ]
  }

  /**
   * Per source, the parts of extents that may hold every token of `hashes`: what a search for text that proves
   * those tokens (tokens.ts) must read. Only sources `wanted` accepts are gathered.
   */
  candidates (hashes: number[], wanted: (s: SourceIndex) => boolean): Map<SourceIndex, Piece[]> {
    const out = new Map<SourceIndex, Piece[]>()
    for (const si of this.indexes.values()) {
      si.candidates(hashes, p => {
        if (!wanted(p.e.src)) return
        const list = out.get(p.e.src)
        if (list) list.push(p)
        else out.set(p.e.src, [p])
      })
    }
    return out
  }

  /** LogStore.addLineCounts: from the sidecar of e's segment, when it has one. */
  addLineCounts (e: Extent, into: Float64Array, at: number): boolean {
    const si = this.indexes.get((e as SegmentExtent).seg)
    return si !== undefined && si.addLineCounts(e as SegmentExtent, into, at)
  }

  /** Segments whose queries use a sidecar, and the sidecars' bytes on disk. */
  indexStats (): { indexedSegments: number, indexBytes: number, sidecarsWritten: number, failures: number } {
    let indexedSegments = 0
    let indexBytes = 0
    for (const si of this.indexes.values()) {
      if (si.sidecar) { indexedSegments++; indexBytes += si.sidecar.bytes }
    }
    const { sidecarsWritten, failures } = this.indexer
    return { indexedSegments, indexBytes, sidecarsWritten, failures }
  }

  /** Resolves once every sidecar queued so far (rebuilds and seals) is written: for tests and benches. */
  async indexed (): Promise<void> {
    await this.rebuilds
    await this.indexer.idle()
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (this.retentionTimer) clearInterval(this.retentionTimer)
    const open = this.disk.failed !== null
      ? []
      : [...this.tenants.all].map(t => ({ si: this.indexFor(t.segments.active), bytes: t.segments.active.size }))
    this.tenants.close()
    await this.indexer.close(open)
    for (const si of this.indexes.values()) si.close()
  }
}
