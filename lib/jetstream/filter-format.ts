// The token filters of a tenant stream as its bucket `LOGFS_FILTERS_<bucketKey>` holds them, format version 1
// (README.md, "Token filters"). A group covers a range of stream sequences, cut into blocks of consecutive
// messages; its filter is split by token hash into PARTITIONS bit-sliced filters (../store/blockfilter.ts), so a
// query for one token reads one small partition per group, not the whole filter.
import { buildFilter, mayHoldAll, type FilterShape } from '../store/blockfilter'

export const FILTERS_BUCKET_PREFIX = 'LOGFS_FILTERS_'
export const FILTER_FORMAT_VERSION = 1
export const PARTITIONS = 64
export const LEASE_KEY = 'lease'
export const NEXT_KEY = 'next'

/** A token's partition: the top 6 bits of its hash, which the probe rows (hash mod rows) barely depend on. */
export const partitionOf = (hash: number): number => hash >>> 26

const seqDigits = (seq: number): string => String(seq).padStart(16, '0')
export const groupKey = (first: number): string => `g.${seqDigits(first)}`
/** A group's partitions, under the id of the builder that wrote them (a builder that lost leaves no mix). */
export const partitionPrefix = (first: number, id: string): string => `p.${seqDigits(first)}.${id}`
export const partitionKey = (first: number, id: string, pp: number): string =>
  `${partitionPrefix(first, id)}.${String(pp).padStart(2, '0')}`

/** A group's descriptor, the value of `g.<first>`. */
export interface Group {
  version: typeof FILTER_FORMAT_VERSION
  /** The stream sequences it covers, [first, last]; every message in them is in one of its blocks. */
  first: number
  last: number
  /** The builder's id in its partition keys. */
  id: string
  /** Per block, its last sequence: block k covers (ends[k-1], ends[k]], block 0 from `first`. */
  ends: number[]
  /** Blocks whose filter cannot be trusted (a token began where it could not be read): always candidates. */
  unfiltered: number[]
  /** Per partition, [rows, probes]; a row is ceil(blocks / 8) bytes. */
  shapes: Array<[number, number]>
  /** Payload bytes of the messages it covers, and bytes of its partitions. */
  dataBytes: number
  filterBytes: number
}

export class FilterFormatError extends Error {
  override name = 'FilterFormatError'
}

/** One block as a builder hands it over: its last sequence, its distinct token hashes (ascending), its bytes. */
export interface FilteredBlock { last: number, unfiltered: boolean, hashes: Uint32Array, bytes: number }

/** A group's PARTITIONS filters over its blocks' token hashes (block k's in `blocks[k]`), and their shapes. */
export interface Partitions { shapes: Array<[number, number]>, partitions: Uint8Array[] }

export function partitionFilters (blocks: Uint32Array[]): Partitions {
  // A partition is the top bits of a hash, so a block's ascending hashes hold each partition's as one run: each
  // goes to its filter as a view, with no copy. (A JavaScript array per partition and block, grown a hash at a
  // time, held some 100 MiB of a gateway's RSS for groups of 256 blocks.)
  const split = Array.from({ length: PARTITIONS }, () => [] as Uint32Array[])
  for (const hashes of blocks) {
    // Hashes out of order leave the runs short of the block's end: they are sorted, and cut again.
    const runs = partitionRuns(hashes) ?? partitionRuns(Uint32Array.from(hashes).sort())!
    for (const [pp, run] of runs.entries()) split[pp].push(run)
  }
  const partitions: Uint8Array[] = []
  const shapes: Array<[number, number]> = []
  for (const part of split) {
    const { shape, bits } = buildFilter(part)
    shapes.push([shape.rows, shape.probes])
    partitions.push(bits)
  }
  return { shapes, partitions }
}

/** Each partition's run of `hashes`, in partition order; null when the hashes are not in partition order. */
function partitionRuns (hashes: Uint32Array): Uint32Array[] | null {
  const runs: Uint32Array[] = []
  let at = 0
  for (let pp = 0; pp < PARTITIONS; pp++) {
    let end = at
    while (end < hashes.length && partitionOf(hashes[end]) === pp) end++
    runs.push(hashes.subarray(at, end))
    at = end
  }
  return at === hashes.length ? runs : null
}

/** The descriptor of a group of blocks whose partitions are `built`. */
export function groupOf (first: number, id: string, blocks: FilteredBlock[], built: Partitions): Group {
  return {
    version: FILTER_FORMAT_VERSION,
    first,
    last: blocks[blocks.length - 1].last,
    id,
    ends: blocks.map(b => b.last),
    unfiltered: blocks.flatMap((b, k) => b.unfiltered ? [k] : []),
    shapes: built.shapes,
    dataBytes: blocks.reduce((n, b) => n + b.bytes, 0),
    filterBytes: built.partitions.reduce((n, p) => n + p.length, 0),
  }
}

export const encodeGroup = (g: Group): Uint8Array => Buffer.from(JSON.stringify(g))

const isSeq = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0

/** A descriptor from its bucket; FilterFormatError when it is not one this version reads. */
export function decodeGroup (value: Uint8Array): Group {
  let g: Group
  try {
    g = JSON.parse(Buffer.from(value).toString('utf8')) as Group
  } catch (err) {
    throw new FilterFormatError(`not JSON: ${(err as Error).message}`)
  }
  if (g?.version !== FILTER_FORMAT_VERSION) throw new FilterFormatError(`version ${String(g?.version)} is not 1`)
  const ok = isSeq(g.first) && isSeq(g.last) && g.first <= g.last && typeof g.id === 'string' &&
    Array.isArray(g.ends) && g.ends.length > 0 && g.ends.every(isSeq) && g.ends[g.ends.length - 1] === g.last &&
    Array.isArray(g.unfiltered) && Array.isArray(g.shapes) && g.shapes.length === PARTITIONS &&
    g.shapes.every(s => Array.isArray(s) && s.length === 2 && isSeq(s[0]) && s[0] > 0 && isSeq(s[1]) && s[1] > 0)
  if (!ok) throw new FilterFormatError('fields missing or out of range')
  return g
}

/** The number of g's block holding sequence `seq` (first ≤ seq ≤ last). */
export function blockOfSeq (g: Group, seq: number): number {
  let lo = 0
  let hi = g.ends.length - 1
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (g.ends[mid] < seq) lo = mid + 1
    else hi = mid
  }
  return lo
}

export function shapeOf (g: Group, pp: number): FilterShape {
  const [rows, probes] = g.shapes[pp]
  return { rows, probes, rowBytes: Math.ceil(g.ends.length / 8) }
}

/**
 * Which of g's blocks may hold every one of `hashes`, a bitmap; `partition(pp)` gives partition pp's bits, or
 * null when it could not be read (then it rules nothing out).
 */
export function groupMayHold (g: Group, hashes: number[], partition: (pp: number) => Uint8Array | null): Uint8Array {
  const blocks = g.ends.length
  const out = new Uint8Array(Math.ceil(blocks / 8)).fill(0xff)
  const byPartition = new Map<number, number[]>()
  for (const h of hashes) {
    const pp = partitionOf(h)
    byPartition.set(pp, [...(byPartition.get(pp) ?? []), h])
  }
  for (const [pp, hs] of byPartition) {
    const shape = shapeOf(g, pp)
    const bits = partition(pp)
    if (bits === null || bits.length !== shape.rows * shape.rowBytes) continue
    const may = mayHoldAll(hs, shape, blocks, r => bits.subarray(r * shape.rowBytes, (r + 1) * shape.rowBytes))
    for (let i = 0; i < out.length; i++) out[i] &= may[i]
  }
  for (const k of g.unfiltered) out[k >> 3] |= 1 << (k & 7)
  return out
}
