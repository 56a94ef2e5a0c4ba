// What the server asks of a store, whichever holds the bytes: the embedded one (disk/store.ts, segment files on
// this machine) or a JetStream cluster behind stateless gateways (lib/jetstream). Both keep an index per source
// (SourceIndex) that queries walk; they differ in where the bytes are and how an append is made durable.
import type { EventEmitter } from 'node:events'
import { formatCursor, type Cursor, type Extent, type Piece, type SourceIndex } from './source'
import { splitSource } from '../util/sources'

export interface SourceInfo {
  source: string
  node: string
  tenant: string
  /** The path under the agent's mount, e.g. `namespace/pod/container/file` under Kubernetes. */
  path: string
  bytes: number
  first: string | null
  next: string | null
  lastWrite: number
  gapBytes: number
}

/** Bytes of one source an agent shipped: `data` starts at `offset` of generation `gen`. */
export interface Entry {
  source: string
  gen: number
  offset: number
  timestamp: number
  data: Uint8Array
}

export interface AppendResult { stored: number, duplicate: number }

/** An append refused for a reason that lasts, which the store logs once per episode rather than per batch. */
export class LastingRefusal extends Error {}

/** A figure the store reports on the server's /metrics. */
export interface StoreMetric {
  name: string
  help: string
  type: 'gauge' | 'counter'
  /** One figure, or one per label set. */
  value: () => number | Array<[Record<string, string>, number]>
  /** The label names of the label sets `value` gives, if it gives several. */
  labels?: string[]
}

/** Who holds a node: the agent generation and where its connection came from. */
export interface NodeHolder { gen: number, peer: string }

/**
 * Node claims every gateway of a cluster shares. The server keeps its own connections' claims (server/claims.ts);
 * a node it takes is then asked of these, so that an agent of another generation on another gateway is refused
 * as one on the same gateway is.
 */
export interface ClusterClaims {
  /**
   * Takes `node` for `gen`, or keeps it; resolves to the holder when another generation holds it, and rejects when
   * the cluster cannot be asked.
   */
  claim (node: string, gen: number, peer: string): Promise<NodeHolder | null>
  /** Whether this gateway holds `node` for `gen`: a batch under it needs no asking. */
  holds (node: string, gen: number): boolean
  /** Gives the claim up: the last connection under it closed. */
  release (node: string, gen: number): void
}

/** Emits `append` (source: SourceIndex) after new bytes of a source are durable (or, for a gateway, replicated). */
export interface LogStore extends EventEmitter {
  /** Whether it can take appends: false once it failed for good or is closing. */
  readonly healthy: boolean
  /** Whether appends are refused for lack of space. */
  readonly full: boolean
  /**
   * Why some batches are refused for now though the store is healthy (a gateway: the cluster has no room for a
   * tenant's stream), for /readyz; null when there is nothing such.
   */
  readonly trouble: string | null
  /** Appends rejected so far: each is a batch nacked `unavailable`. */
  readonly refusedAppends: number
  /** Node claims shared with other servers of the same store (a gateway's cluster); none for a store of its own. */
  readonly claims?: ClusterClaims
  /**
   * Stores `entries` exactly once by (source, gen, offset): bytes it already holds are counted as duplicate, not
   * stored again. Resolves once the rest is durable; rejects when it cannot be made so.
   */
  append (entries: Entry[]): Promise<AppendResult>
  listSources (allowed: (tenant: string) => boolean): SourceInfo[]
  source (name: string): SourceIndex | undefined
  allSources (): IterableIterator<SourceIndex>
  /** The time of the oldest retained byte, or null when there is none. */
  oldest (): number | null
  /** Bytes of a source from `from` (inclusive) in cursor order, at most `maxBytes`, and the cursor after them. */
  read (source: string, from: Cursor | null, maxBytes: number): { data: Buffer, next: Cursor | null }
  /**
   * Per source, the parts of extents that may hold every token of `hashes`; null when the store keeps no token
   * index, so a search reads the whole range.
   */
  candidates (hashes: number[], wanted: (s: SourceIndex) => boolean): Map<SourceIndex, Piece[]> | null
  /**
   * Adds extent e's lines and lines per level (SUMMARY numbers, levels.ts) to `into` from `at`, when its index
   * holds them; false when it does not yet (its block is not indexed yet), and the caller counts e's bytes. A store
   * without it keeps no counts, and has lines counted by nobody (reading every byte is not a histogram's price).
   */
  addLineCounts? (e: Extent, into: Float64Array, at: number): boolean
  /**
   * Runs a read of the index and its bytes (the synchronous walks of query/lines.ts among them). The embedded
   * store runs it as it is; a gateway first catches its index up with the cluster, and runs it again after
   * fetching the bytes it found missing.
   */
  query<T>(fn: () => T | Promise<T>): Promise<T>
  /**
   * `query` without the catching up: for a read the index itself asked for (a follower woken by `append`), which
   * the index already holds. A gateway still fetches the bytes `fn` found missing and runs it again.
   */
  walk<T>(fn: () => T | Promise<T>): Promise<T>
  metrics (): StoreMetric[]
  close (): Promise<void>
}

export function describeSources (sources: Iterable<SourceIndex>, allowed: (tenant: string) => boolean): SourceInfo[] {
  const out: SourceInfo[] = []
  for (const s of sources) {
    if (!allowed(s.tenant)) continue
    const first = s.first()
    const next = s.next()
    out.push({
      source: s.source,
      node: s.node,
      tenant: s.tenant,
      path: splitSource(s.source).path,
      bytes: s.bytes,
      first: first ? formatCursor(first) : null,
      next: next ? formatCursor(next) : null,
      lastWrite: s.lastWrite,
      gapBytes: s.gapBytes,
    })
  }
  return out.sort((a, b) => a.source.localeCompare(b.source))
}

export function oldestOf (sources: Iterable<SourceIndex>): number | null {
  let t: number | null = null
  for (const s of sources) {
    const e = s.first()
    if (e && (t === null || e.timestamp < t)) t = e.timestamp
  }
  return t
}

export function readFrom (s: SourceIndex, from: Cursor | null, maxBytes: number):
  { data: Buffer, next: Cursor | null } {
  const pos = from ? s.positionAtOrAfter(from) : 0
  const end = Math.min(s.end, pos + maxBytes)
  const data = s.read(pos, end)
  return { data, next: data.length > 0 ? s.cursorAt(end) : from }
}
