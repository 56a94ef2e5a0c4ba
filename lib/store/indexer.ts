// Keeps segment indexes up to date off the ingest thread: sends the open segment's blocks to the index worker as
// they close, writes a segment's sidecar when the segment is sealed, and rebuilds a sidecar that was missing or
// did not check out. Until a block is built, queries read it whole, so an index that lags (or a task that
// fails) costs time, never answers.
import path from 'node:path'
import { Piscina } from 'piscina'
import type { Before, EntryRow } from './blocks'
import { Sidecar, sidecarFile } from './sidecar'
import type { SegmentIndex } from './segment-index'
import type { Extent } from './source'
import type { IndexResult, IndexTask } from './index-worker'
import { log } from '../util/log'

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
  private busy = 0
  private idlers: Array<() => void> = []
  sidecarsWritten = 0
  failures = 0

  /** Hands the open segment's newly closed blocks to the worker. */
  grew (si: SegmentIndex): void {
    const r = this.requested.get(si) ?? { blocks: 0, done: Promise.resolve() }
    this.requested.set(si, r)
    const closed = si.closedBlocks
    if (closed <= r.blocks) return
    const build: Array<[number, number]> = []
    for (let k = r.blocks; k < closed; k++) build.push(si.range(k))
    r.blocks = closed
    const prev = r.done
    const [task] = this.task(si, build[0][0], build[build.length - 1][1], build)
    r.done = this.run(task, `blocks of ${path.basename(si.file)}`).then(res => {
      if (res) si.setBuilt(res.blocks)
    }).then(() => prev)
  }

  /**
   * Writes the sidecar of a segment that will take no more entries (sealed, or found without a usable sidecar
   * when the store opened), then answers its queries from it.
   */
  async seal (si: SegmentIndex, segmentBytes: number): Promise<void> {
    const r = this.requested.get(si)
    if (r) await r.done
    this.requested.delete(si)
    const built = si.builtPrefix()
    const build: Array<[number, number]> = []
    for (let k = built.length; k < si.blockCount; k++) build.push(si.range(k))
    const [task, sources] = this.task(si, 0, si.extents.length, build)
    task.seal = { segmentBytes, sources, built }
    const res = await this.run(task, `sidecar of ${path.basename(si.file)}`)
    if (!res || this.closed) return
    try {
      si.attach(Sidecar.open(sidecarFile(si.file), segmentBytes).sidecar)
      this.sidecarsWritten++
    } catch (err) {
      this.failures++
      log('warn', 'store', `${sidecarFile(si.file)} was written but does not open: ${(err as Error).message}`)
    }
  }

  /** The task for extents [from, to) of a segment, and its source table (the numbers in its rows). */
  private task (si: SegmentIndex, from: number, to: number, build: Array<[number, number]>): [IndexTask, string[]] {
    const extents = si.extents.slice(from, to)
    const numbers = new Map<string, number>()
    const rows: EntryRow[] = extents.map(e => {
      let source = numbers.get(e.src.source)
      if (source === undefined) { source = numbers.size; numbers.set(e.src.source, source) }
      return { source, gen: e.gen, offset: e.offset, timestamp: e.timestamp, at: e.at, length: e.length }
    })
    return [{ segment: si.file, rows, befores: extents.map(before), base: from, build }, [...numbers.keys()]]
  }

  private async run (task: IndexTask, what: string): Promise<IndexResult | null> {
    if (this.closed) return null
    this.busy++
    try {
      return await this.pool.run(task) as IndexResult
    } catch (err) {
      if (this.closed) return null
      this.failures++
      log('warn', 'store', `index worker failed on ${what}; queries read it whole: ${(err as Error).message}`)
      return null
    } finally {
      // The caller's own continuation (attaching what was built) runs before idle() callers hear of it.
      setImmediate(() => {
        if (--this.busy === 0) for (const resolve of this.idlers.splice(0)) resolve()
      })
    }
  }

  /** Resolves once no task is queued or running. */
  idle (): Promise<void> {
    return this.busy === 0 ? Promise.resolve() : new Promise(resolve => this.idlers.push(resolve))
  }

  async close (): Promise<void> {
    this.closed = true
    await this.pool.destroy()
  }
}

/** Where the bytes before an extent lie, when it goes on from its source's previous extent. */
function before (e: Extent): Before | null {
  const p = e.src.previous(e)
  return p ? { file: p.seg.file, at: p.at, length: p.length } : null
}
