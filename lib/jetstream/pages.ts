// How a gateway keeps its index's memory bounded: a source's older extents go to index pages (page.ts) in the
// LOGFS_INDEX bucket, written with the stream's snapshot, and the gateway lets go of them when it holds more than
// `--index-entries` paged entries, starting with the sources no query walked since its last look (a clock: a source
// a walk used gets one more round). A walk of a released source throws NotHeld; the store fetches its pages,
// restores it and runs the walk again. Retention is applied to released sources by whole pages, and their pages'
// objects are deleted once the stream's first sequence is past them.
import type { ObjectStore } from '@nats-io/obj'
import type { StoreMetric } from '../store/log-store'
import type { SourceIndex } from '../store/source'
import type { MessageExtent } from './payloads'
import { extentsOf } from './columns'
import { PAGE_VERSION, PageError, decodePage, encodePage, pageRef, pagesSummary, type PageRef } from './page'
import { streamName } from './subjects'

/** Extents per page: a page of runs of about 256 KiB covers about 1 GiB of a source. */
export const PAGE_ENTRIES = 4096
/** Paged entries a gateway holds unless `--index-entries` says otherwise: some 100 MiB of RSS. */
export const HELD_ENTRIES = 250_000
const LOAD_PARALLEL = 4

type Source = SourceIndex<MessageExtent>

const NONE: readonly PageRef[] = []

export class IndexPages {
  private readonly refs = new Map<Source, PageRef[]>()
  private readonly loading = new Map<Source, Promise<void>>()
  private readonly sealing = new Set<Source>()
  written = 0
  fetched = 0
  releases = 0
  restores = 0

  constructor (private readonly bucket: () => Promise<ObjectStore>, private readonly held: number,
    private readonly firstOf: (stream: string) => number) {}

  /** The pages of `s` (one list object until they change: a reader compares it to know they did not). */
  of (s: Source): readonly PageRef[] { return this.refs.get(s) ?? NONE }

  /** The pages a loaded snapshot lists for `s`. */
  adopt (s: Source, pages: PageRef[]): void { this.refs.set(s, pages) }

  /** How many of `x`, from the start, the pages hold; null when the rest do not all come after them. */
  private pagedPrefix (s: Source, x: readonly MessageExtent[]): number | null {
    const pages = this.of(s)
    if (pages.length === 0) return 0
    const last = pages[pages.length - 1].last
    let k = 0
    while (k < x.length && x[k].seq <= last) k++
    for (let i = k; i < x.length; i++) if (x[i].seq <= last) return null
    return k
  }

  /**
   * Writes the extents of `s` in `stream` up to `seq` that no page holds yet, in whole pages of PAGE_ENTRIES (the
   * rest wait for the next snapshot). A page goes on from the last in both cursor and sequence order, or is not cut:
   * an older generation that came late keeps its source held rather than paged out of order.
   */
  async seal (bucket: ObjectStore, stream: string, seq: number, s: Source): Promise<void> {
    const held = s.heldEntries
    const x = held ?? s.addedSince
    const from = held !== null ? this.pagedPrefix(s, held) : 0
    if (from === null || this.sealing.has(s) || this.loading.has(s)) return
    const pages = [...this.of(s)]
    let end = from
    while (end < x.length && x[end].seq <= seq && x[end].stream === stream) end++
    this.sealing.add(s)
    let k = from
    try {
      for (; end - k >= PAGE_ENTRIES; k += PAGE_ENTRIES) {
        const run = x.slice(k, k + PAGE_ENTRIES)
        const after = pages.length > 0 ? pages[pages.length - 1].last : 0
        if (run.some((e, i) => e.seq <= after || (i > 0 && e.seq <= run[i - 1].seq))) break
        const ref = pageRef(stream, s.source, run)
        await bucket.putBlob({
          name: ref.name, metadata: { version: String(PAGE_VERSION), stream, last: String(ref.last) },
        }, await encodePage(stream, s.source, run))
        pages.push(ref)
        this.written++
      }
    } finally {
      this.sealing.delete(s)
    }
    if (k === from) return
    this.refs.set(s, pages)
    // Released: the entries just paged leave memory, if they are still the first added (retention may have cut).
    const later = s.addedSince
    if (held === null && later[0] === x[from] && later[k - from - 1] === x[k - 1]) {
      s.forget(k - from, pagesSummary(pages))
    }
  }

  /** Lets go of the entries of sources no walk used since the last look, while more than `held` are held. */
  tick (): void {
    let total = 0
    for (const s of this.refs.keys()) if (s.held) total += s.count
    for (const s of this.refs.keys()) {
      if (total <= this.held) return
      if (!s.held || this.loading.has(s) || this.sealing.has(s)) continue
      if (s.used) { s.used = false; continue }
      const k = this.pagedPrefix(s, s.heldEntries!)
      if (k === null || k === 0) continue
      s.release(k)
      total -= k
      this.releases++
    }
  }

  /** Restores every one of `sources`, LOAD_PARALLEL sources at a time. */
  async loadAll (sources: Source[]): Promise<void> {
    const todo = [...sources]
    await Promise.all(Array.from({ length: LOAD_PARALLEL }, async () => {
      for (let s = todo.pop(); s !== undefined; s = todo.pop()) await this.load(s)
    }))
  }

  /** Fetches the pages of released `s` and restores it; one fetch however many walks ask. */
  load (s: Source): Promise<void> {
    let p = this.loading.get(s)
    if (p === undefined) {
      p = this.fetchAll(s).finally(() => this.loading.delete(s))
      this.loading.set(s, p)
    }
    return p
  }

  private async fetchAll (s: Source): Promise<void> {
    const stream = streamName(s.tenant)
    const bucket = await this.bucket()
    let pages: readonly PageRef[]
    let parts: MessageExtent[][]
    do {
      if (s.held) return
      // A snapshot that paged some of the entries added since, or retention, may change the pages meanwhile: the
      // entries are then fetched again by the new list, never restored from an old one.
      pages = this.of(s)
      parts = new Array<MessageExtent[]>(pages.length)
      const todo = pages.map((ref, i) => ({ ref, i }))
      await Promise.all(Array.from({ length: LOAD_PARALLEL }, async () => {
        for (let t = todo.pop(); t !== undefined; t = todo.pop()) {
          parts[t.i] = await this.fetch(bucket, stream, s, t.ref)
        }
      }))
    } while (this.of(s) !== pages)
    if (s.held) return
    const first = this.firstOf(stream)
    const last = pages.length > 0 ? pages[pages.length - 1].last : 0
    s.restore(parts.flat().filter(e => e.seq >= first), e => e.seq <= last)
    s.used = true
    this.refs.set(s, this.of(s).filter(p => p.last >= first))
    this.restores++
  }

  private async fetch (bucket: ObjectStore, stream: string, s: Source, ref: PageRef): Promise<MessageExtent[]> {
    if (ref.last < this.firstOf(stream)) return []
    const bytes = await bucket.getBlob(ref.name)
    if (bytes === null) {
      // Deleted once retention passed it: nothing of it is wanted.
      if (ref.last < this.firstOf(stream)) return []
      throw new PageError(`index page ${ref.name} of ${s.source} is missing from the cluster`)
    }
    this.fetched++
    return extentsOf(await decodePage(bytes, stream, s.source, ref), stream, s)
  }

  /**
   * Retention removed `stream`'s messages below `first`: pages wholly below it are dropped from `s`, and a released
   * source loses their entries (a page it cut through counts whole until the source is restored).
   */
  retained (s: Source, first: number): void {
    const pages = this.of(s)
    const kept = pages.filter(p => p.last >= first)
    if (kept.length !== pages.length) this.refs.set(s, kept)
    if (s.held) return
    const later = s.addedSince.filter(e => e.seq >= first)
    if (kept.length === pages.length && later.length === s.addedSince.length) return
    s.releasedAs(pagesSummary(kept), later)
    if (kept.length === 0) s.restore([])
  }

  /** Deletes the page objects of `stream` that retention has passed. */
  async collect (bucket: ObjectStore, stream: string, first: number): Promise<void> {
    const gone: string[] = []
    for (const info of await bucket.list()) {
      if (info.metadata?.stream === stream && Number(info.metadata?.last) < first) gone.push(info.name)
    }
    for (const name of gone) await bucket.delete(name)
  }

  metrics (sources: () => Iterable<Source>): StoreMetric[] {
    const released = (): number => { let n = 0; for (const s of sources()) n += s.held ? 0 : 1; return n }
    const heldPaged = (): number => { let n = 0; for (const s of this.refs.keys()) n += s.held ? s.count : 0; return n }
    return [
      { name: 'logfs_jetstream_index_pages_written_total', type: 'counter',
        help: 'Index pages this gateway wrote to the cluster.', value: () => this.written },
      { name: 'logfs_jetstream_index_pages_fetched_total', type: 'counter',
        help: 'Index pages this gateway fetched from the cluster to restore a released source.',
        value: () => this.fetched },
      { name: 'logfs_jetstream_index_releases_total', type: 'counter',
        help: 'Times the gateway let go of a source\'s paged entries (more than --index-entries were held).',
        value: () => this.releases },
      { name: 'logfs_jetstream_index_restores_total', type: 'counter',
        help: 'Times a query walked a released source and the gateway fetched its pages back.',
        value: () => this.restores },
      { name: 'logfs_jetstream_index_released_sources', type: 'gauge',
        help: 'Sources whose paged entries the gateway does not hold now.', value: released },
      { name: 'logfs_jetstream_index_held_paged_entries', type: 'gauge',
        help: 'Entries of sources with pages that the gateway holds in memory (bounded by --index-entries).',
        value: heldPaged },
    ]
  }
}
