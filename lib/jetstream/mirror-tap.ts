// A copy of what a stream's mirror (mirror.ts) is delivered, for a reader that follows the stream beside the index:
// the token filter builder. Reading the mirror's deliveries instead of a consumer of its own spares the cluster
// delivering every message's headers to the gateway twice (bench:scaleout: with it, the cluster's CPU per MB with
// filters came to within about 1 ms of without). A tap holds what was delivered after `from`, in sequence order,
// until the reader takes it.
/**
 * The most messages a tap holds for a reader that does not take them (a builder waiting on a cluster that cannot
 * be written): past it the tap lets them go, and the reader reads them from the stream instead.
 */
export const TAP_MESSAGES = 100_000

/** What a tap is taken from: a stream's mirror. */
export interface Feed<T extends { seq: number }> { tap: () => Tap<T> }

export class Tap<T extends { seq: number }> {
  private queue: T[] = []
  private wake: (() => void) | null = null

  /**
   * `from`: every message after it is, or will be, in the tap; a reader that has not read up to it reads the stream
   * itself until it has. It moves up when the tap lets messages go.
   */
  constructor (public from: number, readonly close: () => void) {}

  push (d: T): void {
    if (this.queue.length >= TAP_MESSAGES) {
      this.queue = []
      this.from = d.seq
    } else {
      this.queue.push(d)
    }
    this.wake?.()
  }

  /** Up to `max` messages, waiting up to `waitMs` for the first; none when nothing came. */
  async take (max: number, waitMs: number): Promise<T[]> {
    if (this.queue.length === 0) {
      await new Promise<void>(resolve => {
        const done = (): void => { clearTimeout(timer); this.wake = null; resolve() }
        const timer = setTimeout(done, waitMs)
        this.wake = done
      })
    }
    return this.queue.splice(0, max)
  }
}
