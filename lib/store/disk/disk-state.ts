// What every tenant's segment files share: the data dir's health. A failed fsync stops all acknowledgements
// until a restart (dropped dirty pages do not come back); a full disk is an episode that ends by itself with the
// first batch that fits, logged once when it starts and once when it ends.
import { log } from '../../util/log'

/** Errors that go away once space is freed, unlike an I/O error. */
export function noSpace (err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code
  return code === 'ENOSPC' || code === 'EDQUOT'
}

/**
 * fdatasyncs running at once over every tenant's segments. Each runs on a thread of libuv's pool (4 by default),
 * where reads of queries run too; with a segment file per tenant, many tenants writing at once would otherwise
 * fill the pool with fsyncs.
 */
const SYNCS_AT_ONCE = 2

export class DiskState {
  /** Set when an fsync fails: what was written may not be on disk, so nothing more is acknowledged. */
  private failure: Error | null = null
  /** Set while batches fail for lack of space; the next batch that fits clears it. */
  private fullSince: { error: Error, at: number, refused: number } | null = null

  private syncs = 0
  private queued: Array<() => void> = []

  constructor (readonly dir: string) {}

  /**
   * Calls `start` once fewer than SYNCS_AT_ONCE fsyncs run, in the order asked; it calls `done` when it ends.
   * Each tenant's segments ask for one slot at a time and bring every batch written meanwhile to it (segments.ts),
   * so this queue holds at most one turn per tenant and serves tenants in turn: a tenant with a stream of fsyncs
   * waits behind the others' turns, never puts a backlog in front of them.
   */
  syncSlot (start: (done: () => void) => void): void {
    const done = (): void => {
      const next = this.queued.shift()
      if (next) next()
      else this.syncs--
    }
    if (this.syncs < SYNCS_AT_ONCE) {
      this.syncs++
      start(done)
    } else {
      this.queued.push(() => start(done))
    }
  }

  /** Null, or why nothing more is acknowledged until a restart. */
  get failed (): Error | null { return this.failure }
  get full (): boolean { return this.fullSince !== null }

  /** Enters the failed state: nothing more is acknowledged until a restart rereads the segments. */
  fail (message: string): Error {
    if (!this.failure) {
      this.failure = new Error(message)
      log('error', 'store', message)
    }
    return this.failure
  }

  /** A batch found no room even after the store made what room it may: the error it is refused with. */
  refuse (err: Error): Error {
    if (!this.fullSince) {
      log('error', 'store', `data dir full, refusing batches until space returns: ${err.message}`, { dir: this.dir })
      this.fullSince = { error: new Error(`disk full: ${err.message}`), at: Date.now(), refused: 0 }
    }
    return this.fullSince.error
  }

  /** Counts a batch refused while the disk is full, for the episode's log line. */
  countRefusal (): void {
    if (this.fullSince) this.fullSince.refused++
  }

  /** A batch was written whole: ends a full-disk episode. */
  wrote (): void {
    if (!this.fullSince) return
    const { at: since, refused } = this.fullSince
    log('info', 'store', `space is back, storing batches again in ${this.dir}`,
      { fullMs: Date.now() - since, refusedBatches: refused })
    this.fullSince = null
  }
}
