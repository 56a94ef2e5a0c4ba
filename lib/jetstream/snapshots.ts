// Where and when gateways keep their index snapshots (snapshot.ts): the object store LOGFS_INDEX, one object per
// tenant stream, named as the stream, its format version and sequence in the object's metadata (so a gateway
// weighs it without downloading it). A gateway that starts loads each stream's snapshot and follows the stream
// from the next sequence; every gateway writes a stream's snapshot again, in the background, once its index has
// gone far enough beyond the one in the bucket. Any gateway may: each snapshot is a whole, consistent picture at
// its sequence, a put replaces the object at once for readers, and a put names the revision it replaces, so of two
// gateways writing at the same moment one is refused and none ever replaces a newer snapshot with an older one.
import { JetStreamApiCodes, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream'
import { Objm, StorageType, type ObjectInfo, type ObjectStore } from '@nats-io/obj'
import type { StoreMetric } from '../store/log-store'
import type { SourceIndex } from '../store/source'
import { log } from '../util/log'
import type { StreamMirror } from './mirror'
import type { MessageExtent } from './payloads'
import { SNAPSHOT_VERSION, SnapshotError, capture, decodeSnapshot, encodeSnapshot, type Snapshot } from './snapshot'
import type { IndexPages } from './pages'
import { streamName } from './subjects'

export const INDEX_BUCKET = 'LOGFS_INDEX'
/** Messages applied beyond a stream's snapshot before a new one is written (fewer for a small stream). */
export const SNAPSHOT_EVERY = 20_000
/** How often a gateway looks whether a stream's snapshot is due. */
const CHECK_MS = 5000
/** A gateway writes a stream's snapshot at most this often: writing one costs a pass over the index. */
const MIN_INTERVAL_MS = 30_000
/** A snapshot that takes longer than this to download is given up: the stream is read instead. */
const LOAD_MS = 30_000
const LOAD_PARALLEL = 4

export interface SnapshotOptions {
  replicas: number
  /** SNAPSHOT_EVERY unless given; 0: this gateway loads snapshots but writes none. */
  every?: number
}

/** What the snapshots read of the gateway's index. */
export interface IndexView {
  sources: () => Iterable<SourceIndex<MessageExtent>>
  lastSeq: (source: string) => number
  mirrors: () => Iterable<StreamMirror>
  pages: IndexPages
}

function versionOf (info: ObjectInfo): number { return Number(info.metadata?.version ?? NaN) }

function seqOf (info: ObjectInfo): number {
  const seq = Number(info.metadata?.seq ?? 0)
  return info.deleted || versionOf(info) !== SNAPSHOT_VERSION || !Number.isSafeInteger(seq) ? 0 : seq
}

/** Whether the index of `m` has gone far enough beyond a snapshot at `seq`: `every`, or a tenth of the stream. */
function due (m: StreamMirror, seq: number, every: number): boolean {
  const held = m.applied - Math.max(m.first, 1) + 1
  return every > 0 && m.applied - seq >= Math.max(1, Math.min(every, Math.ceil(held / 10)))
}

export class IndexSnapshots {
  written = 0
  failures = 0
  ignored = 0
  loadedMessages = 0
  private bucket: Promise<ObjectStore> | null = null
  /** Per stream, the sequence of the snapshot the bucket holds, as last seen. */
  private readonly known = new Map<string, number>()
  private readonly wroteAt = new Map<string, number>()
  /** Per stream whose snapshot could not be used at start, that object's revision: it is replaced at the next look. */
  private readonly unusable = new Map<string, number>()
  private readonly every: number
  private timer: NodeJS.Timeout | null = null
  private busy = false
  private failing = false
  private stopped = false

  constructor (private readonly js: JetStreamClient, private readonly jsm: JetStreamManager,
    private readonly options: SnapshotOptions, private readonly index: IndexView) {
    this.every = options.every ?? SNAPSHOT_EVERY
  }

  /** The bucket, made if it is not there yet. */
  open (): Promise<ObjectStore> {
    if (this.bucket === null) {
      const { replicas } = this.options
      this.bucket = new Objm(this.js).create(INDEX_BUCKET, { replicas, storage: StorageType.File })
      this.bucket.catch(() => { this.bucket = null })
    }
    return this.bucket
  }

  /**
   * Loads the snapshot of each of `streams` there is, and hands it to `apply` (which says how many messages it
   * took, null for none). A snapshot that cannot be used is logged and left out: its stream is read from its first
   * message.
   */
  async load (streams: string[], apply: (s: Snapshot) => number | null): Promise<void> {
    const todo = [...streams]
    await Promise.all(Array.from({ length: LOAD_PARALLEL }, async () => {
      for (let stream = todo.pop(); stream !== undefined; stream = todo.pop()) {
        try {
          const s = await this.loadOne(stream)
          if (s !== null) this.loadedMessages += apply(s) ?? 0
        } catch (err) {
          this.ignored++
          log('warn', 'jetstream', `index snapshot of ${stream} not used, reading the stream instead: ` +
            (err as Error).message)
        }
      }
    }))
  }

  private async loadOne (stream: string): Promise<Snapshot | null> {
    const bucket = await this.open()
    const info = await bucket.info(stream)
    if (info === null || info.deleted) return null
    try {
      if (versionOf(info) !== SNAPSHOT_VERSION) {
        throw new SnapshotError(`snapshot format version '${info.metadata?.version}' is not ${SNAPSHOT_VERSION}`)
      }
      const s = await decodeSnapshot(await this.download(bucket, stream))
      const si = await this.jsm.streams.info(stream)
      if (s.stream !== stream || s.created !== si.created || s.seq > si.state.last_seq) {
        throw new SnapshotError(`it is of stream ${s.stream} created ${s.created} up to ${s.seq}, and the stream ` +
          `was created ${si.created} and holds up to ${si.state.last_seq}`)
      }
      this.known.set(stream, s.seq)
      return s
    } catch (err) {
      this.unusable.set(stream, info.revision)
      throw err
    }
  }

  private async download (bucket: ObjectStore, name: string): Promise<Uint8Array> {
    const r = await bucket.get(name)
    if (r === null) throw new SnapshotError('it was deleted as it was read')
    const reader = r.data.getReader()
    let late = false
    const timer = setTimeout(() => { late = true; void reader.cancel() }, LOAD_MS)
    const parts: Uint8Array[] = []
    try {
      for (let p = await reader.read(); !p.done; p = await reader.read()) parts.push(p.value)
    } finally {
      clearTimeout(timer)
    }
    // A put that replaced it meanwhile took its chunks away: the download stalls, and is given up.
    if (late) throw new SnapshotError(`it did not arrive within ${LOAD_MS / 1000} s`)
    const err = await r.error
    if (err) throw err
    return Buffer.concat(parts)
  }

  /** Writes the snapshots that are due, in the background, until stop. */
  start (): void {
    this.timer = setInterval(() => { void this.tick() }, CHECK_MS)
    this.timer.unref()
  }

  private async tick (): Promise<void> {
    if (this.busy || this.every === 0) return
    this.busy = true
    try {
      for (const m of [...this.index.mirrors()]) {
        if (this.stopped) break
        await this.consider(m)
      }
    } finally {
      this.busy = false
    }
  }

  private async consider (m: StreamMirror): Promise<void> {
    if (!due(m, this.known.get(m.stream) ?? 0, this.every)) return
    if (Date.now() - (this.wroteAt.get(m.stream) ?? 0) < MIN_INTERVAL_MS) return
    try {
      const bucket = await this.open()
      const info = await bucket.info(m.stream)
      if (info !== null && versionOf(info) > SNAPSHOT_VERSION) return // a newer gateway's: left to those
      const there = info === null || this.unusable.get(m.stream) === info.revision ? 0 : seqOf(info)
      this.known.set(m.stream, there)
      if (!due(m, there, this.every)) return
      const si = await this.jsm.streams.info(m.stream)
      const applied = m.applied
      const { pages } = this.index
      for (const src of [...this.index.sources()]) {
        if (streamName(src.tenant) === m.stream) await pages.seal(bucket, m.stream, applied, src)
      }
      // Taken in one turn of the event loop: the index does not change under it.
      const s = capture(m.stream, si.created, m.applied, si.state.first_seq, {
        sources: this.index.sources, lastSeq: this.index.lastSeq, pagesOf: src => pages.of(src),
      })
      const bytes = await encodeSnapshot(s)
      this.wroteAt.set(m.stream, Date.now())
      await bucket.putBlob({
        name: m.stream, metadata: { version: String(SNAPSHOT_VERSION), seq: String(s.seq) },
      }, bytes, { previousRevision: info?.revision ?? 0 })
      this.known.set(m.stream, s.seq)
      this.written++
      this.failing = false
      // A page left behind is collected by the next snapshot of the stream.
      await pages.collect(bucket, m.stream, si.state.first_seq).catch(() => {})
    } catch (err) {
      // Another gateway wrote one since this one looked: it stands, and is weighed at the next look.
      if (this.stopped || (err as { code?: number }).code === JetStreamApiCodes.StreamWrongLastSequence) return
      this.failures++
      if (!this.failing) {
        log('warn', 'jetstream', `cannot write the index snapshot of ${m.stream} (logged once until one is ` +
          `written; logfs_jetstream_snapshot_failures_total counts them): ${(err as Error).message}`)
      }
      this.failing = true
    }
  }

  metrics (): StoreMetric[] {
    return [
      { name: 'logfs_jetstream_replayed_messages_total', type: 'counter',
        help: "Messages whose headers the gateway read from the streams into its index (other gateways' and its " +
          'own that it did not index at once); those its start took from snapshots are not among them.',
        value: () => { let n = 0; for (const m of this.index.mirrors()) n += m.replayed; return n } },
      { name: 'logfs_jetstream_snapshot_loaded_messages', type: 'gauge',
        help: 'Messages the index took from snapshots in the cluster when the gateway started.',
        value: () => this.loadedMessages },
      { name: 'logfs_jetstream_snapshots_written_total', type: 'counter',
        help: 'Index snapshots this gateway wrote to the cluster.', value: () => this.written },
      { name: 'logfs_jetstream_snapshot_failures_total', type: 'counter',
        help: 'Index snapshots this gateway could not write.', value: () => this.failures },
      { name: 'logfs_jetstream_snapshots_ignored_total', type: 'counter',
        help: 'Index snapshots not used at start (corrupt, another format version, another stream): the ' +
          'stream was read instead.', value: () => this.ignored },
    ]
  }

  stop (): void {
    this.stopped = true
    if (this.timer !== null) clearInterval(this.timer)
  }
}
