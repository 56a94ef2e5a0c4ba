// One tenant's segment files (a directory of them, layout.ts) as a set: opening them (torn tails cut), appending
// a batch whole or not at all, group commit (one fdatasync for every batch that arrived while the previous one
// ran), rolling to a new segment, and removing the oldest. What the bytes mean (sources, cursors) is the Store's
// business, not this file's; the data dir's health (a failed fsync, a full disk) is shared by all (disk-state.ts).
import fs from 'node:fs'
import path from 'node:path'
import { FILE_HEADER, fileHeader, scanSegment, type EntryRef } from './segment'
import { sidecarFile } from './sidecar'
import { fsyncDir, segmentFile, segmentIds } from './layout'
import type { DiskState } from './disk-state'
import { log } from '../../util/log'

export interface Segment { id: number, file: string, fd: number, size: number, newest: number }

interface Waiter { resolve: () => void, reject: (e: Error) => void }

export class Segments {
  readonly list: Segment[] = []
  private current!: Segment
  private syncing = false
  private waiters: Waiter[] = []
  /** Set while a new segment cannot be made; the active one grows past segmentBytes meanwhile. */
  private rollError: string | null = null
  private closed = false

  /** `segmentBytes` is the size at which the active segment is closed; the store may change it (per tenant). */
  constructor (readonly dir: string, public segmentBytes: number, private readonly disk: DiskState) {}

  get active (): Segment { return this.current }
  get totalBytes (): number { return this.list.reduce((n, s) => n + s.size, 0) }

  private file (id: number): string {
    return segmentFile(this.dir, id)
  }

  /**
   * Opens every segment, hands each entry to `index`, and makes the newest one (or a new one) active. A sealed
   * segment's entries come from `known` when it has them (its sidecar), which spares reading the segment.
   */
  open (index: (ref: EntryRef, seg: Segment) => void,
    known: (file: string, size: number) => EntryRef[] | null = () => null): number {
    const created = fs.mkdirSync(this.dir, { recursive: true })
    if (created !== undefined) {
      // Each new directory's entry must survive a crash too, or the fsynced segments in it would go with it.
      for (let d = this.dir; d !== path.dirname(created); d = path.dirname(d)) fsyncDir(path.dirname(d))
    }
    const names = fs.readdirSync(this.dir)
    const ids = segmentIds(this.dir)
    // A sidecar outlives its segment only when a crash came between the two deletions, or mid-write.
    const have = new Set(ids)
    for (const f of names) {
      const m = /^(\d{12})\.idx(\.\d+\.tmp)?$/.exec(f)
      if (m && (m[2] || !have.has(Number(m[1])))) fs.rmSync(path.join(this.dir, f), { force: true })
    }
    let entries = 0
    let tailWritable = false
    for (const [i, id] of ids.entries()) {
      const file = this.file(id)
      const last = i === ids.length - 1
      const size = fs.statSync(file).size
      const refs = last ? null : known(file, size)
      const scan = refs ? { refs, validEnd: size, size, problem: null } : scanSegment(file, last)
      if (scan.problem) {
        if (last && scan.validEnd > 0) {
          const dropped = scan.size - scan.validEnd
          log('warn', 'store', `${file}: ${scan.problem}; cutting the torn tail`, { dropped })
          fs.truncateSync(file, scan.validEnd)
          scan.size = scan.validEnd
        } else {
          const kept = scan.refs.length
          log('error', 'store', `${file}: ${scan.problem}; entries after it are not readable`, { kept })
        }
      }
      tailWritable = last && scan.validEnd > 0
      const seg: Segment = { id, file, fd: fs.openSync(file, tailWritable ? 'r+' : 'r'), size: scan.size, newest: 0 }
      this.list.push(seg)
      for (const ref of scan.refs) index(ref, seg)
      entries += scan.refs.length
    }
    const tail = this.list[this.list.length - 1]
    if (tailWritable) {
      this.current = tail
      // Started on a full disk: write on in the last segment rather than not start.
      if (tail.size >= this.segmentBytes) this.tryRoll()
    } else {
      this.roll()
    }
    return entries
  }

  /**
   * Starts the next segment. It is made under a temporary name and renamed once its header is on disk, so a
   * failure (disk full) leaves no headerless segment for open() to trip over; a leftover `.new` file from a crash
   * is ignored by open() and overwritten by the next roll, which uses the same id.
   */
  private roll (): void {
    const id = (this.list[this.list.length - 1]?.id ?? 0) + 1
    const file = this.file(id)
    const tmp = file + '.new'
    const fd = fs.openSync(tmp, 'w+')
    try {
      fs.writeSync(fd, fileHeader())
      fs.fsyncSync(fd)
      fs.renameSync(tmp, file)
      fsyncDir(this.dir)
    } catch (err) {
      fs.closeSync(fd)
      fs.rmSync(tmp, { force: true })
      throw err
    }
    this.current = { id, file, fd, size: FILE_HEADER, newest: 0 }
    this.list.push(this.current)
  }

  /** Rolls, or keeps writing to the active segment and tries again after the next batch. Says why once. */
  private tryRoll (): boolean {
    const from = path.basename(this.current.file)
    try {
      this.roll()
    } catch (err) {
      const message = (err as Error).message
      if (this.rollError === null) {
        const until = 'until one can be made'
        log('warn', 'store', `cannot start a new segment, ${from} grows past --segment-size ${until}: ${message}`)
      }
      this.rollError = message
      return false
    }
    if (this.rollError !== null) {
      const size = this.list[this.list.length - 2].size
      const started = path.basename(this.current.file)
      log('info', 'store', `started ${started} after ${from} grew past --segment-size`, { size })
    }
    this.rollError = null
    return true
  }

  /**
   * Appends a batch to the active segment whole, or not at all; returns the file offset it starts at. A write
   * that fails for lack of space throws its error as it is, for the store to make room or refuse the batch.
   */
  write (all: Buffer): number {
    const seg = this.current
    const at = seg.size
    let written = 0
    try {
      while (written < all.length) written += fs.writeSync(seg.fd, all, written, all.length - written, at + written)
    } catch (err) {
      this.cutBack(seg, err as Error)
    }
    seg.size += all.length
    return at
  }

  /** Cuts off what write() appended from `at` on: another part of the same batch could not be written. */
  undo (at: number): void {
    const seg = this.current
    try {
      fs.ftruncateSync(seg.fd, at)
    } catch (err) {
      const why = (err as Error).message
      throw this.fail(`store write failed and the segment could not be cut back, refusing writes until restart: ${why}`)
    }
    seg.size = at
  }

  /**
   * A write failed, maybe after writing part of the batch: cuts that part off, so the next entry follows the
   * last good one and no garbage sits between entries (older segments are read without CRC checks).
   */
  private cutBack (seg: Segment, err: Error): never {
    try {
      fs.ftruncateSync(seg.fd, seg.size)
    } catch (cut) {
      // Only the torn-tail cut on the next open can clean the segment up now.
      const why = (cut as Error).message
      throw this.fail(`store write failed and the segment could not be cut back, refusing writes until restart: ${why}`)
    }
    throw err
  }

  /** Resolves once everything written so far is on stable storage. */
  sync (): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject })
      this.kickSync()
    })
  }

  private kickSync (): void {
    if (this.syncing || this.waiters.length === 0) return
    this.syncing = true
    // Batches written while this one waits for its turn share its fsync.
    this.disk.syncSlot(done => {
      const batch = this.waiters
      this.waiters = []
      const settle = (err: Error | null): void => {
        done()
        this.syncing = false
        if (err) this.fail(`store fsync failed, refusing writes until restart: ${err.message}`)
        for (const w of batch) {
          const failure = this.disk.failed
          if (failure) w.reject(failure)
          else w.resolve()
        }
        this.kickSync()
      }
      // close() fsynced the segment already.
      if (this.closed) settle(null)
      else fs.fdatasync(this.current.fd, settle)
    })
  }

  /** Makes what was written to the active segment durable now (the format migration, which waits for nothing). */
  flush (): void {
    fs.fsyncSync(this.current.fd)
  }

  /**
   * After a batch made the active segment reach segmentBytes: makes its bytes durable and starts the next segment.
   * The batch is already durable, so nothing here may fail it. True when a new segment was started.
   */
  closeActive (): boolean {
    try {
      // Later fsyncs go to the new segment; batches still waiting for theirs were written to this one.
      fs.fsyncSync(this.current.fd)
    } catch (err) {
      this.fail(`store fsync failed, refusing writes until restart: ${(err as Error).message}`)
      return false
    }
    return this.tryRoll()
  }

  private fail (message: string): Error {
    return this.disk.fail(message)
  }

  /** Deletes the oldest segment's file and its sidecar; never the active one. */
  removeOldest (): Segment {
    if (this.list.length < 2) throw new Error('the active segment is never removed')
    const oldest = this.list.shift()!
    fs.closeSync(oldest.fd)
    fs.rmSync(oldest.file, { force: true })
    fs.rmSync(sidecarFile(oldest.file), { force: true })
    return oldest
  }

  close (): void {
    this.closed = true
    fs.fsyncSync(this.current.fd)
    for (const seg of this.list) fs.closeSync(seg.fd)
  }
}
