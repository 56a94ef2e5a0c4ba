// A forward scan over part of a source, in windows of whole lines read off the event loop (in libuv's threadpool)
// one at a time: between windows the loop serves ingest, so a scan of the whole store holds it up for one window's
// work at a time, not for the whole scan. Across reads the scan keeps cursors, not logical positions: an older
// generation arriving, or retention, moves positions while a read is in flight.
import type { SourceIndex } from '../store/source'
import type { Chunk } from '../store/pieces'
import { NL } from '../util/bytes'
import { Pace } from './pace'

const WINDOW = 4 * 1024 * 1024

/**
 * Window buffers a query reuses once their hits are taken, so a scan allocates a few windows, not one per 4 MiB
 * read: short-lived megabytes make the garbage collector run full collections, which hold ingest up
 * (bench:stall). They are shared memory, so a scan worker reads a window where it lies: an ArrayBuffer handed to a
 * worker and back is a new 4 MiB allocation at each end, and at hundreds of windows a second those alone brought a
 * full collection several times a second (bench:logql's ack probe).
 */
export class WindowBuffers {
  private readonly free: SharedArrayBuffer[] = []

  take (): Buffer { return Buffer.from(this.free.pop() ?? new SharedArrayBuffer(WINDOW)) }

  /** Gives the buffer under a window back, once nothing (no scan worker either) reads it any more. */
  give (window: Buffer): void {
    const ab = window.buffer
    if (ab instanceof SharedArrayBuffer && ab.byteLength === WINDOW && window.byteOffset === 0) this.free.push(ab)
  }
}

/** A window's bytes as a scan worker takes them: the first `length` bytes of `data`. */
export interface WorkerWindow { data: SharedArrayBuffer | ArrayBuffer, length: number }

/**
 * The window as a scan worker reads it: in its shared memory when it lies in a window buffer, else a copy, handed
 * over (`transfer`). The window must not be given back before the worker is done with it.
 */
export function forWorker (buf: Buffer): { window: WorkerWindow, transfer: ArrayBuffer[] } {
  if (buf.buffer instanceof SharedArrayBuffer && buf.byteOffset === 0) {
    return { window: { data: buf.buffer, length: buf.length }, transfer: [] }
  }
  const copy = Uint8Array.prototype.slice.call(buf).buffer
  return { window: { data: copy, length: buf.length }, transfer: [copy] }
}

/** Bytes a query may still read (its tenant's `scan` limit less what it read); shared by all its scans. */
export interface ScanBudget {
  left: number
  /** Set when a scan stopped because the budget could not hold its next line. */
  spent: boolean
}

/**
 * Windows of whole lines of logical [from, to) of `s`, in cursor order. A range that starts inside a line starts
 * at the next whole line; a line longer than a window comes in pieces. When retention removes the bytes where the
 * scan was to go on, it goes on at the next whole line of what is left. Each window's lines are taken out of
 * `budget`; the scan stops, `budget.spent`, at the last whole line the budget holds.
 */
export async function * scanLines (s: SourceIndex, from: number, to: number,
  budget: ScanBudget = { left: Infinity, spent: false }, buffers = new WindowBuffers(), pace = new Pace()):
  AsyncGenerator<Chunk> {
  if (from >= to) return
  let next = s.cursorAt(from)
  const stop = s.cursorAt(to)
  // 'check': whether the byte before `next` ends a line is not known; 'skip': it does not, so the scan starts
  // after the next newline.
  let align: 'check' | 'skip' | null = 'check'
  let retentions = s.retentions
  for (;;) {
    if (s.retentions !== retentions) {
      retentions = s.retentions
      if (s.logicalOf(next) === null) align = 'check'
    }
    // Positions are taken afresh after every read.
    const pos = s.positionAtOrAfter(next)
    const end = s.positionAtOrAfter(stop)
    if (pos >= end) return
    if (align === 'check' && pos > 0) {
      const before = await s.readAsync(pos - 1, pos)
      if (before !== null) align = before.data[0] === NL ? null : 'skip'
      continue
    }
    const want = Math.min(end, pos + WINDOW)
    const upTo = Math.min(want, pos + budget.left)
    if (upTo <= pos) {
      budget.spent = true
      return
    }
    const chunk = await s.readAsync(pos, upTo, buffers.take())
    if (chunk === null) continue
    const buf = chunk.data
    const cut = upTo < want
    if (align === 'skip') {
      const nl = buf.indexOf(NL)
      if (nl < 0) {
        budget.spent = cut
        return
      }
      next = chunk.cursorAt(nl + 1)
      align = null
      continue
    }
    align = null
    let complete = pos + buf.length === end ? buf.length : buf.lastIndexOf(NL) + 1
    if (complete === 0 && cut) {
      budget.spent = true
      return
    }
    if (complete === 0) complete = buf.length
    // The budget pays for the lines a window yields; the cut line after them is read again with the next window.
    budget.left -= complete
    next = chunk.cursorAt(complete)
    yield chunk.head(complete)
    await pace.turn()
    if (cut) {
      budget.spent = true
      return
    }
  }
}
