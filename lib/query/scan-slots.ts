// How many scan workers run at once. While agents are sending, every core but one: that core stays the event
// loop's, which answers ingest (with a worker on every core the loop waited for a core behind them, bench:stall).
// With no ingest going on, a query may take every core: nothing else needs them then. The count is checked as each
// window starts, so a query that began on every core gives one back within a window of ingest arriving.

export class ScanSlots {
  private running = 0
  private readonly waiting: Array<() => void> = []

  /** `cores` usable in all; `ingesting` says whether ingest is going on now. */
  constructor (private readonly cores: number, private readonly ingesting: () => boolean) {}

  /** Workers that may run now. */
  get allowed (): number { return this.ingesting() ? Math.max(1, this.cores - 1) : this.cores }

  /** Runs `fn` once a slot is free, in the order asked. */
  async run<T> (fn: () => Promise<T>): Promise<T> {
    // A waiter is woken with its slot already counted (next), so nobody can take it in between.
    if (this.running < this.allowed && this.waiting.length === 0) this.running++
    else await new Promise<void>(resolve => this.waiting.push(resolve))
    try {
      return await fn()
    } finally {
      this.running--
      this.next()
    }
  }

  private next (): void {
    while (this.waiting.length > 0 && this.running < this.allowed) {
      this.running++
      this.waiting.shift()!()
    }
  }
}
