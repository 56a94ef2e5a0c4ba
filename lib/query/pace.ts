// A query's share of the server while it runs. A scan reads, copies and matches windows, and a search with
// thousands of hits builds and serializes them, on the event loop that also answers ingest; yielding between
// steps alone still keeps the loop, the threadpool and a scan worker busy back to back, and on a loaded machine
// another tenant's ingest then waits for a core and for the collector (bench:stall). So while batches are arriving,
// every SLICE_MS of work a query rests as long as it worked: it runs at half speed at worst, and ingest finds the
// process idle. With no ingest going on a query only yields between steps, at full speed.
import { performance } from 'node:perf_hooks'

const SLICE_MS = 10
/** The part of the time a query works while it has work and ingest is going on. */
const SHARE = 0.5
/** How long after a batch arrived ingest counts as going on: agents send at least every few hundred ms when busy. */
const INGEST_MS = 1000

let ingestUntil = 0

/** The server calls this as each batch arrives: for the next INGEST_MS, queries share the process with ingest. */
export function ingestArrived (): void { ingestUntil = performance.now() + INGEST_MS }

/** Whether a batch arrived within the last INGEST_MS. */
export function ingestGoingOn (): boolean { return performance.now() <= ingestUntil }

export class Pace {
  private since = performance.now()

  /** Between two steps of a query: the event loop's other work, and a rest once the query has worked SLICE_MS. */
  async turn (): Promise<void> {
    const now = performance.now()
    const worked = now - this.since
    if (worked < SLICE_MS || !ingestGoingOn()) {
      if (worked >= SLICE_MS) this.since = now
      return await new Promise(resolve => setImmediate(resolve))
    }
    await new Promise(resolve => setTimeout(resolve, worked * (1 - SHARE) / SHARE))
    this.since = performance.now()
  }
}
