// A snapshot of a gateway's index of one tenant stream: every source the stream holds, with its high-water marks
// and its extents (one per message), complete up to a stream sequence. A gateway that starts loads it and follows
// the stream from the next sequence on, instead of reading every message's headers again. Format version 1
// (lib/jetstream/README.md): a msgpack map whose first field is `version`; the sources are msgpack too, their
// extents as columns of deltas (runs of a source go on from one another, so most deltas are 0 or small), deflated.
import { promisify } from 'node:util'
import zlib from 'node:zlib'
import { pack, unpack } from 'msgpackr'
import type { SourceIndex } from '../store/source'
import type { MessageExtent } from './payloads'
import { streamName } from './subjects'

export const SNAPSHOT_VERSION = 1

const deflate = promisify(zlib.deflateRaw)
const inflate = promisify(zlib.inflateRaw)

/** A snapshot that cannot be used: corrupt, or not this gateway's format. */
export class SnapshotError extends Error {
  override name = 'SnapshotError'
}

/** A source's extents in cursor order, one column per field. */
export interface Columns {
  gen: number[]
  offset: number[]
  length: number[]
  timestamp: number[]
  seq: number[]
}

export interface SourceState {
  name: string
  /** Per generation, the offset just past its highest byte stored: [gen, offset, gen, offset, ...]. */
  high: number[]
  gapBytes: number
  /** Stream sequence of the source's last message (0: retention removed them all). */
  lastSeq: number
  lastWrite: number
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

/**
 * The index's picture of `stream` up to `seq`. A source belongs to the stream its extents are in, or, when
 * retention left it none, to its tenant's stream. Extents above `seq` (published by this gateway ahead of its
 * consumer) are left out: a gateway that loads the snapshot reads them from the stream.
 */
export function capture (stream: string, created: string, seq: number, first: number,
  sources: Iterable<SourceIndex<MessageExtent>>, lastSeq: (source: string) => number): Snapshot {
  const out: SourceState[] = []
  for (const s of sources) {
    const x = s.extents
    // Other tenants' sources are passed over without a look at their extents: one stream's snapshot costs its own.
    if (x.length > 0 ? x[0].stream !== stream && x[x.length - 1].stream !== stream : streamName(s.tenant) !== stream) {
      continue
    }
    const mine = x.filter(e => e.stream === stream && e.seq <= seq)
    if (mine.length === 0 && x.length > 0) continue
    const high: number[] = []
    for (const [gen, offset] of s.high) high.push(gen, offset)
    out.push({
      name: s.source, high, gapBytes: s.gapBytes, lastSeq: lastSeq(s.source), lastWrite: s.lastWrite,
      extents: {
        gen: mine.map(e => e.gen),
        offset: mine.map(e => e.offset),
        length: mine.map(e => e.length),
        timestamp: mine.map(e => e.timestamp),
        seq: mine.map(e => e.seq),
      },
    })
  }
  return { version: SNAPSHOT_VERSION, stream, created, seq, first, sources: out }
}

/** Differences from the previous value; an offset counts from where the previous extent of its generation ended. */
function deltas (c: Columns): Columns {
  const d: Columns = { gen: [], offset: [], length: c.length, timestamp: [], seq: [] }
  for (let i = 0; i < c.gen.length; i++) {
    const same = i > 0 && c.gen[i] === c.gen[i - 1]
    d.gen.push(i > 0 ? c.gen[i] - c.gen[i - 1] : c.gen[i])
    d.offset.push(same ? c.offset[i] - c.offset[i - 1] - c.length[i - 1] : c.offset[i])
    d.timestamp.push(i > 0 ? c.timestamp[i] - c.timestamp[i - 1] : c.timestamp[i])
    d.seq.push(i > 0 ? c.seq[i] - c.seq[i - 1] : c.seq[i])
  }
  return d
}

const isCount = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0
const isInt = (x: unknown): x is number => Number.isSafeInteger(x)

function check (ok: boolean, what: string): void {
  if (!ok) throw new SnapshotError(`snapshot is corrupt: ${what}`)
}

/** The columns back from their deltas, each value checked. */
function undo (d: Columns, source: string): Columns {
  const n = d.gen.length
  for (const k of ['offset', 'length', 'timestamp', 'seq'] as const) {
    check(Array.isArray(d[k]) && d[k].length === n, `${source}: ${k} has ${d[k]?.length} values, not ${n}`)
  }
  const c: Columns = {
    gen: new Array(n), offset: new Array(n), length: d.length, timestamp: new Array(n), seq: new Array(n),
  }
  for (let i = 0; i < n; i++) {
    check(isInt(d.gen[i]) && isInt(d.offset[i]) && isCount(d.length[i]) && isInt(d.timestamp[i]) && isInt(d.seq[i]),
      `${source}: extent ${i} is not whole numbers`)
    const same = i > 0 && d.gen[i] === 0
    c.gen[i] = i > 0 ? c.gen[i - 1] + d.gen[i] : d.gen[i]
    c.offset[i] = same ? c.offset[i - 1] + c.length[i - 1] + d.offset[i] : d.offset[i]
    c.timestamp[i] = i > 0 ? c.timestamp[i - 1] + d.timestamp[i] : d.timestamp[i]
    c.seq[i] = i > 0 ? c.seq[i - 1] + d.seq[i] : d.seq[i]
    check(isCount(c.gen[i]) && isCount(c.offset[i]) && isCount(c.timestamp[i]) && c.seq[i] > 0,
      `${source}: extent ${i} has a negative place`)
  }
  return c
}

export async function encodeSnapshot (s: Snapshot): Promise<Buffer> {
  const sources = s.sources.map(x => ({ ...x, extents: deltas(x.extents) }))
  const body = await deflate(pack(sources))
  return pack({ version: s.version, stream: s.stream, created: s.created, seq: s.seq, first: s.first, sources: body })
}

/** Throws SnapshotError for bytes that are not a snapshot of this version, or do not hold together. */
export async function decodeSnapshot (bytes: Uint8Array): Promise<Snapshot> {
  let head: Record<string, unknown>
  let sources: unknown
  try {
    head = unpack(bytes) as Record<string, unknown>
    check(typeof head === 'object' && head !== null, 'not a map')
    if (head.version !== SNAPSHOT_VERSION) {
      throw new SnapshotError(`snapshot format version '${String(head.version)}' is not ${SNAPSHOT_VERSION}`)
    }
    check(head.sources instanceof Uint8Array, 'no sources')
    sources = unpack(await inflate(head.sources as Uint8Array))
  } catch (err) {
    if (err instanceof SnapshotError) throw err
    throw new SnapshotError(`snapshot is corrupt: ${(err as Error).message}`)
  }
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
    check(typeof x.extents === 'object' && x.extents !== null && Array.isArray(x.extents.gen), `${name}: no extents`)
    out.push({
      name, high: x.high!, gapBytes: x.gapBytes!, lastSeq: x.lastSeq!, lastWrite: x.lastWrite!,
      extents: undo(x.extents!, name),
    })
  }
  return { version: SNAPSHOT_VERSION, stream: stream as string, created: created as string, seq: seq as number,
    first: first as number, sources: out }
}

/**
 * Fills the index with a snapshot: `sourceOf` gives (or makes) a source's index, `lastSeqs` takes each source's
 * last sequence. Returns how many extents it added.
 */
export function applySnapshot (s: Snapshot, sourceOf: (name: string) => SourceIndex<MessageExtent>,
  lastSeqs: Map<string, number>): number {
  let n = 0
  for (const x of s.sources) {
    const src = sourceOf(x.name)
    const c = x.extents
    for (let i = 0; i < c.gen.length; i++) {
      src.add({
        gen: c.gen[i], offset: c.offset[i], length: c.length[i], timestamp: c.timestamp[i],
        stream: s.stream, seq: c.seq[i], src,
      })
    }
    n += c.gen.length
    for (let i = 0; i < x.high.length; i += 2) {
      src.high.set(x.high[i], Math.max(src.high.get(x.high[i]) ?? 0, x.high[i + 1]))
    }
    src.gapBytes += x.gapBytes
    src.lastWrite = Math.max(src.lastWrite, x.lastWrite)
    lastSeqs.set(x.name, Math.max(lastSeqs.get(x.name) ?? 0, x.lastSeq))
  }
  return n
}
