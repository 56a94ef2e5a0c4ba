// The receiving end of a benchmark run: counts the lines that arrived per writer, finds lost and duplicated ones,
// and keeps each line's delivery latency (arrival time minus the time written into the line).
import { performance } from 'node:perf_hooks'

const HEAD = /^\{"w":(\d+),"seq":(\d+),"t":([\d.]+)/

export class Collector {
  private readonly seen: Uint8Array[] = []
  private readonly latencies: number[] = []
  /** When each line of `latencies` was written (ms since the epoch), for quantiles over part of a run. */
  private readonly writtenAt: number[] = []
  distinct = 0
  duplicates = 0
  malformed = 0
  lastArrival = 0
  private waiters: Array<() => void> = []

  constructor (writers: number, private readonly linesPerWriter: number) {
    for (let i = 0; i < writers; i++) this.seen.push(new Uint8Array(linesPerWriter))
  }

  get expected (): number { return this.seen.length * this.linesPerWriter }

  line (text: string, at = performance.timeOrigin + performance.now()): void {
    const m = HEAD.exec(text)
    const w = m ? Number(m[1]) : -1
    const seq = m ? Number(m[2]) : -1
    if (!m || w >= this.seen.length || seq >= this.linesPerWriter) { this.malformed++; return }
    if (this.seen[w][seq]) { this.duplicates++; return }
    this.seen[w][seq] = 1
    this.distinct++
    this.latencies.push(at - Number(m[3]))
    this.writtenAt.push(Number(m[3]))
    this.lastArrival = at
    if (this.distinct === this.expected) for (const w of this.waiters.splice(0)) w()
  }

  /** Lines from a chunk of newline-separated text; returns the unfinished tail. */
  chunk (text: string, at?: number): string {
    let start = 0
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
      this.line(text.slice(start, nl), at)
      start = nl + 1
    }
    return text.slice(start)
  }

  done (timeoutMs: number): Promise<boolean> {
    if (this.distinct === this.expected) return Promise.resolve(true)
    return new Promise(resolve => {
      const timer = setTimeout(() => resolve(false), timeoutMs)
      this.waiters.push(() => { clearTimeout(timer); resolve(true) })
    })
  }

  /** The p-quantile of delivery latency, of the lines written at or after `since` (ms since the epoch). */
  quantileMs (p: number, since = 0): number {
    const kept = this.latencies.filter((_, i) => this.writtenAt[i] >= since)
    if (kept.length === 0) return NaN
    const sorted = Float64Array.from(kept).sort()
    return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]
  }
}
