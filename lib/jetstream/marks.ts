// High-water marks of emptied sources, shared by every gateway: the KV bucket LOGFS_MARKS, one key per source
// (base64url of its name) whose every message retention removed. The stream then holds nothing of the source, and
// the marks are the only record of what it stored: a gateway that follows the bucket (every one does, from its
// start) counts a resend of those bytes as duplicate, as the gateway that saw them does. Format in README.md.
import type { JetStreamClient } from '@nats-io/jetstream'
import type { KV, KvWatchEntry } from '@nats-io/kv'
import type { QueuedIterator } from '@nats-io/nats-core'
import { log } from '../util/log'
import { openBucket } from './buckets'

export const MARKS_BUCKET = 'LOGFS_MARKS'
const VERSION = 1
const RETRY_MS = 5000
const RESTART_MS = 500

/** gen → offset just past the highest byte stored. */
export type HighMarks = Map<number, number>

const keyOf = (source: string): string => Buffer.from(source).toString('base64url')

export class KvMarks {
  /** Marks not yet written (the bucket did not answer), tried again every RETRY_MS. */
  private readonly unsaved = new Map<string, HighMarks>()
  private readonly timer: NodeJS.Timeout
  private watcher: QueuedIterator<KvWatchEntry> | null = null
  private revision = 0
  private closed = false
  private failing = false
  private unreadable = 0

  private constructor (private readonly kv: KV, private readonly highOf: (source: string) => HighMarks) {
    this.timer = setInterval(() => this.retry(), RETRY_MS)
    this.timer.unref()
  }

  /**
   * Opens the bucket, and resolves once every mark in it was applied; later ones are applied as they come. Marks are
   * applied to `highOf(source)`, the index's marks of the source (made if need be), which they only ever raise.
   */
  static async open (js: JetStreamClient, replicas: number, highOf: (source: string) => HighMarks): Promise<KvMarks> {
    const m = new KvMarks(await openBucket(js, MARKS_BUCKET, replicas), highOf)
    try {
      await m.follow()
    } catch (err) {
      await m.close()
      throw new Error(`cannot read bucket ${MARKS_BUCKET}: ${(err as Error).message}`)
    }
    return m
  }

  /** Records a source's marks: retention removed its last message. */
  save (source: string, marks: HighMarks): void {
    this.unsaved.set(source, new Map(marks))
    void this.write(source)
  }

  private async write (source: string): Promise<void> {
    const marks = this.unsaved.get(source)
    if (!marks || this.closed) return
    try {
      await this.kv.put(keyOf(source), JSON.stringify({ version: VERSION, marks: Object.fromEntries(marks) }))
      if (this.unsaved.get(source) === marks) this.unsaved.delete(source)
      if (this.failing) log('info', 'jetstream', `high-water marks are written to ${MARKS_BUCKET} again`)
      this.failing = false
    } catch (err) {
      // This gateway still knows them; until they are written, a gateway started meanwhile does not.
      if (!this.failing) {
        log('warn', 'jetstream', `cannot write high-water marks to ${MARKS_BUCKET} (trying again): ` +
          (err as Error).message)
      }
      this.failing = true
    }
  }

  private retry (): void {
    for (const source of this.unsaved.keys()) void this.write(source)
  }

  /** Applies every mark in the bucket, then follows it; resolves once the marks there at the start are applied. */
  private async follow (): Promise<void> {
    const { values } = await this.kv.status()
    await new Promise<void>((resolve, reject) => {
      if (values === 0) resolve()
      void this.run(resolve, reject)
    })
  }

  private async run (loaded: () => void, failed: (err: Error) => void): Promise<void> {
    while (!this.closed) {
      try {
        const watcher = this.watcher = await this.kv.watch({ resumeFromRevision: this.revision + 1 })
        // Closed while the watch was being set up (an empty bucket lets open() resolve before it is).
        if (this.closed) watcher.stop()
        for await (const e of watcher) {
          this.revision = e.revision
          if (e.operation === 'PUT') this.read(e)
          if (e.delta === 0) loaded()
        }
      } catch (err) {
        failed(err as Error)
        if (!this.closed) log('warn', 'jetstream', `following ${MARKS_BUCKET} restarts: ${(err as Error).message}`)
      }
      this.watcher = null
      if (!this.closed) await new Promise(resolve => setTimeout(resolve, RESTART_MS))
    }
  }

  private read (e: KvWatchEntry): void {
    const source = Buffer.from(e.key, 'base64url').toString('utf8')
    try {
      const v = e.json<{ version?: number, marks?: Record<string, number> }>()
      if (v.version !== VERSION || typeof v.marks !== 'object' || v.marks === null) {
        throw new Error(`version ${String(v.version)} is not ${VERSION}`)
      }
      const high = this.highOf(source)
      for (const [gen, offset] of Object.entries(v.marks)) {
        high.set(Number(gen), Math.max(high.get(Number(gen)) ?? 0, Number(offset)))
      }
    } catch (err) {
      if (this.unreadable++ === 0) {
        log('warn', 'jetstream', `skipped the marks of ${source} in ${MARKS_BUCKET}: ${(err as Error).message}`)
      }
    }
  }

  async close (): Promise<void> {
    this.closed = true
    clearInterval(this.timer)
    this.watcher?.stop()
  }
}
