// A snapshot of a gateway's index of one tenant stream: every source the stream holds, with its high-water marks
// and its extents (one per message), complete up to a stream sequence. A gateway that starts loads it and follows
// the stream from the next sequence on, instead of reading every message's headers again. A source's older
// extents are not in it but in index pages (page.ts) it lists: a gateway that loads the snapshot fetches those
// only when a query walks the source. Format version 2 (lib/jetstream/README.md): a msgpack map whose first field
// is `version`; the sources are msgpack too, their extents as columns of deltas (columns.ts), deflated.
import { promisify } from 'node:util'
import zlib from 'node:zlib'
import { pack, unpack } from 'msgpackr'
import type { SourceIndex } from '../store/source'
import type { MessageExtent } from './payloads'
import { streamName } from './subjects'
import { CorruptColumns, check, columnsOf, deltas, extentsOf, isCount, undo, type Columns } from './columns'
import { pagesSummary, type PageRef } from './page'

export const SNAPSHOT_VERSION = 2

const deflate = promisify(zlib.deflateRaw)
const inflate = promisify(zlib.inflateRaw)

/** A snapshot that cannot be used: corrupt, or not this gateway's format. */
export class SnapshotError extends Error {
  override name = 'SnapshotError'
}

export interface SourceState {
  name: string
  /** Per generation, the offset just past its highest byte stored: [gen, offset, gen, offset, ...]. */
  high: number[]
  gapBytes: number
  /** Stream sequence of the source's last message (0: retention removed them all). */
  lastSeq: number
  lastWrite: number
  /** Its older extents, in pages, in cursor order. */
  pages: PageRef[]
  /** Its extents after the pages'. */
  extents: Columns
}

export interface Snapshot {
  version: number
  stream: string
  /** The stream's creation time: a stream deleted and made again starts its sequences over. */
  created: string
  /** Every message up to this sequence is in the snapshot, and none after it. */
  seq: number
  /** The stream's first sequence when the snapshot was taken. */
  first: number
  sources: SourceState[]
}

/** What a snapshot reads of the index, and how a source's pages are known. */
export interface SnapshotIndex {
  sources: () => Iterable<SourceIndex<MessageExtent>>
  lastSeq: (source: string) => number
  pagesOf: (s: SourceIndex<MessageExtent>) => readonly PageRef[]
}

/**
 * The index's picture of `stream` up to `seq`: each of its sources' pages, and its extents after them. Extents above
 * `seq` (published by this gateway ahead of its consumer) are left out: a gateway that loads the snapshot reads them
 * from the stream.
 */
export function capture (stream: string, created: string, seq: number, first: number, index: SnapshotIndex):
  Snapshot {
  const out: SourceState[] = []
  for (const s of index.sources()) {
    // Other tenants' sources are passed over without a look at their extents: one stream's snapshot costs its own.
    if (streamName(s.tenant) !== stream) continue
    const pages = index.pagesOf(s)
    const paged = pages.length > 0 ? pages[pages.length - 1].last : 0
    const x = s.heldEntries ?? s.addedSince
    const mine = x.filter(e => e.stream === stream && e.seq > paged && e.seq <= seq)
    if (mine.length === 0 && pages.length === 0 && s.count > 0) continue
    const high: number[] = []
    for (const [gen, offset] of s.high) high.push(gen, offset)
    out.push({
      name: s.source, high, gapBytes: s.gapBytes, lastSeq: index.lastSeq(s.source), lastWrite: s.lastWrite,
      pages: [...pages], extents: columnsOf(mine),
    })
  }
  return { version: SNAPSHOT_VERSION, stream, created, seq, first, sources: out }
}

export async function encodeSnapshot (s: Snapshot): Promise<Buffer> {
  const sources = s.sources.map(x => ({ ...x, extents: deltas(x.extents) }))
  const body = await deflate(pack(sources))
  return pack({ version: s.version, stream: s.stream, created: s.created, seq: s.seq, first: s.first, sources: body })
}

const isCursor = (c: unknown): boolean =>
  typeof c === 'object' && c !== null && isCount((c as Record<string, unknown>).gen) &&
  isCount((c as Record<string, unknown>).offset)

function checkPages (pages: unknown, name: string): void {
  check(Array.isArray(pages), `${name}: no pages`)
  for (const p of pages as PageRef[]) {
    check(typeof p === 'object' && p !== null && typeof p.name === 'string' && isCount(p.count) && p.count > 0 &&
      isCount(p.bytes) && isCount(p.first) && isCount(p.last) && p.first <= p.last && isCursor(p.at) &&
      isCount(p.at.timestamp) && isCursor(p.next), `${name}: a bad page reference`)
  }
}

/** Throws SnapshotError for bytes that are not a snapshot of this version, or do not hold together. */
export async function decodeSnapshot (bytes: Uint8Array): Promise<Snapshot> {
  try {
    const head = unpack(bytes) as Record<string, unknown>
    check(typeof head === 'object' && head !== null, 'not a map')
    if (head.version !== SNAPSHOT_VERSION) {
      throw new SnapshotError(`snapshot format version '${String(head.version)}' is not ${SNAPSHOT_VERSION}`)
    }
    check(head.sources instanceof Uint8Array, 'no sources')
    const sources = unpack(await inflate(head.sources as Uint8Array)) as unknown
    const { stream, created, seq, first } = head
    check(typeof stream === 'string' && typeof created === 'string' && isCount(seq) && isCount(first),
      'stream, created, seq or first missing')
    check(Array.isArray(sources), 'sources is not a list')
    const out: SourceState[] = []
    for (const x of sources as Array<Partial<SourceState>>) {
      check(typeof x === 'object' && x !== null && typeof x.name === 'string' && x.name.includes('/'),
        'a source has no name')
      const name = x.name!
      check(Array.isArray(x.high) && x.high.length % 2 === 0 && x.high.every(isCount), `${name}: bad high-water marks`)
      check(isCount(x.gapBytes) && isCount(x.lastSeq) && isCount(x.lastWrite), `${name}: bad counts`)
      checkPages(x.pages, name)
      check(typeof x.extents === 'object' && x.extents !== null && Array.isArray(x.extents.gen), `${name}: no extents`)
      out.push({
        name, high: x.high!, gapBytes: x.gapBytes!, lastSeq: x.lastSeq!, lastWrite: x.lastWrite!, pages: x.pages!,
        extents: undo(x.extents!, name),
      })
    }
    return { version: SNAPSHOT_VERSION, stream: stream as string, created: created as string, seq: seq as number,
      first: first as number, sources: out }
  } catch (err) {
    if (err instanceof SnapshotError) throw err
    const why = err instanceof CorruptColumns ? err.message : (err as Error).message
    throw new SnapshotError(`snapshot is corrupt: ${why}`)
  }
}

/**
 * Fills the index with a snapshot: `sourceOf` gives (or makes) a source's index, `lastSeqs` takes each source's
 * last sequence, `adopt` each source's pages. A source with pages starts released: its paged extents are fetched
 * when a query walks it. Returns how many extents the snapshot lists.
 */
export function applySnapshot (s: Snapshot, sourceOf: (name: string) => SourceIndex<MessageExtent>,
  lastSeqs: Map<string, number>, adopt: (src: SourceIndex<MessageExtent>, pages: PageRef[]) => void): number {
  let n = 0
  for (const x of s.sources) {
    const src = sourceOf(x.name)
    const later = extentsOf(x.extents, s.stream, src)
    const paged = pagesSummary(x.pages)
    if (x.pages.length > 0) {
      adopt(src, x.pages)
      src.releasedAs(paged, later)
    } else {
      for (const e of later) src.add(e)
    }
    n += later.length + paged.count
    for (let i = 0; i < x.high.length; i += 2) {
      src.high.set(x.high[i], Math.max(src.high.get(x.high[i]) ?? 0, x.high[i + 1]))
    }
    src.gapBytes += x.gapBytes
    src.lastWrite = Math.max(src.lastWrite, x.lastWrite)
    lastSeqs.set(x.name, Math.max(lastSeqs.get(x.name) ?? 0, x.lastSeq))
  }
  return n
}
