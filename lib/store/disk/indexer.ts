// Keeps segment indexes up to date off the ingest thread: sends the open segment's blocks to the index worker as
// they close, writes a segment's sidecar when the segment is sealed, and rebuilds a sidecar that was missing or
// did not check out. Until a block is built, queries read it whole, so an index that lags (or a task that
// fails) costs time, never answers.
import path from 'node:path'
import { Piscina } from 'piscina'
import type { Before, EntryRow } from './blocks'
import { Sidecar, sidecarFile } from './sidecar'
import type { SegmentIndex } from './segment-index'
import type { SegmentExtent as Extent } from './segment-reader'
import type { BlockJob, IndexResult, IndexTask } from './index-worker'
import { TokenizerNotBuilt, tokenizer } from '../tokenizer'
import { log } from '../../util/log'

export class Indexer {
  private readonly pool = new Piscina({
    filename: path.join(__dirname, 'index-worker.js'),
    minThreads: 0,
    maxThreads: 1,
    // Tokenizing is the worker's whole job; between bursts it need not hold a thread.
    idleTimeout: 10_000,
    recordTiming: false,
  })

  /** Blocks of each open segment handed to the worker so far, and the task that builds the last of them. */
  private readonly requested = new Map<SegmentIndex, { blocks: number, done: Promise<void> }>()
  private closed = false
  /** Set when the worker cannot tokenize (the tokenizer is not built); null until the first task asks. */
  private unavailable: boolean | null = null
  private busy = 0
  private idlers: Array<() => void> = []
  sidecarsWritten = 0
  failures = 0

  /** Hands the open segment's newly closed blocks to the worker. */
  grew (si: SegmentIndex): void {
    const r = this.requested.get(si) ?? { blocks: si.sidecarBlocks, done: Promise.resolve() }
    this.requested.set(si, r)
    const closed = si.closedBlocks
    if (closed <= r.blocks) return
    const build: BlockJob[] = []
    for (let k = r.blocks; k < closed; k++) build.push(job(si, k))
    r.blocks = closed
    const prev = r.done
    r.done = this.run({ segment: si.file, build }, `blocks of ${path.basename(si.file)}`).then(res => {
      if (res) si.setBuilt(res.blocks)
    }).then(() => prev)
  }

  /**
   * Writes the sidecar of a segment that will take no more entries (sealed, or found without a usable sidecar
   * when the store opened), then answers its queries from it. Also the open segment's at a graceful stop, so the
   * next start has its blocks (it is written again, whole, when the segment seals).
   */
  async seal (si: SegmentIndex, segmentBytes: number): Promise<void> {
    const r = this.requested.get(si)
    if (r) await r.done
    this.requested.delete(si)
    const built = si.builtPrefix()
    const build: BlockJob[] = []
    for (let k = built.length; k < si.blockCount; k++) build.push(job(si, k))
    const numbers = new Map<string, number>()
    const entries: EntryRow[] = si.extents.map(e => {
      let source = numbers.get(e.src.source)
      if (source === undefined) { source = numbers.size; numbers.set(e.src.source, source) }
      return row(e, source)
    })
    const seal = { segmentBytes, sources: [...numbers.keys()], entries, built }
    const res = await this.run({ segment: si.file, build, seal }, `sidecar of ${path.basename(si.file)}`)
    if (!res || this.closed) return
    try {
      si.attach(Sidecar.open(sidecarFile(si.file), segmentBytes).sidecar)
      this.sidecarsWritten++
    } catch (err) {
      this.failures++
      log('warn', 'store', `${sidecarFile(si.file)} was written but does not open: ${(err as Error).message}`)
    }
  }

  private async run (task: IndexTask, what: string): Promise<IndexResult | null> {
    if (this.closed || !this.tokenizes()) return null
    this.busy++
    try {
      return await this.pool.run(task) as IndexResult
    } catch (err) {
      if (this.closed) return null
      const message = (err as Error).message
      this.failures++
      log('warn', 'store', `index worker failed on ${what}; queries read it whole: ${message}`)
      return null
    } finally {
      // The caller's own continuation (attaching what was built) runs before idle() callers hear of it.
      setImmediate(() => {
        if (--this.busy === 0) for (const resolve of this.idlers.splice(0)) resolve()
      })
    }
  }

  /**
   * Whether the tokenizer loads here, asked once: the worker loads the same addon, and without it every task would
   * fail the same way. Loading it on this thread costs one small library with no libfuse.
   */
  private tokenizes (): boolean {
    if (this.unavailable === null) {
      try {
        tokenizer()
        this.unavailable = false
      } catch (err) {
        if (!(err instanceof TokenizerNotBuilt)) throw err
        this.unavailable = true
        log('warn', 'store', `building no indexes, every search reads everything: ${err.message}`)
      }
    }
    return !this.unavailable
  }

  /** Resolves once no task is queued or running. */
  idle (): Promise<void> {
    return this.busy === 0 ? Promise.resolve() : new Promise(resolve => this.idlers.push(resolve))
  }

  /**
   * Writes the open segments' sidecars (each tenant has one open segment) and lets the tasks queued now finish (a
   * sidecar half a second from done is worth the wait), then stops.
   */
  async close (open: Array<{ si: SegmentIndex, bytes: number }> = []): Promise<void> {
    await Promise.all(open.map(async o => await this.seal(o.si, o.bytes)))
    this.closed = true
    await this.idle()
    await this.pool.destroy()
  }
}

const row = (e: Extent, source: number): EntryRow =>
  ({ source, gen: e.gen, offset: e.offset, timestamp: e.timestamp, at: e.at, length: e.length })

/** Block k of a segment as the worker needs it: the extents with data in it, and where the bytes before each lie. */
function job (si: SegmentIndex, k: number): BlockJob {
  const [first, end] = si.extentsIn(k)
  const extents = si.extents.slice(first, end)
  return { k, first, rows: extents.map(e => row(e, 0)), befores: extents.map(before) }
}

/** Where the bytes before an extent lie, when it goes on from its source's previous extent. */
function before (e: Extent): Before | null {
  const p = e.src.previous(e)
  return p ? { file: p.seg.file, at: p.at, length: p.length } : null
}
