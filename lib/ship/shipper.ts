// Main-thread side of shipping: decides when a tenant's ring has a batch to send and hands it to a piscina
// worker. It does no I/O itself, so the FUSE thread never waits on the network.
//
// One batch per tenant is in flight at a time. That keeps each source's records arriving in cursor order on
// whichever worker connection carries them, so the server's (source, gen, offset) high-water mark is enough to
// drop resent bytes exactly.
//
// Tenants take turns. At most `windowBytes` of batches are in flight at once; a tenant with a batch to send while
// the window is full joins the back of a queue, and each acknowledgement lets the front of the queue go. A tenant
// whose batch was acknowledged and who has more waiting goes to the back too, so flooding tenants cycle. While
// several tenants contend, each batch is cut at an equal share of the window: a quiet tenant's batch then waits for
// about one window of bytes however many tenants flood, and the worker holds about one window of framed batches
// (with one batch per tenant and no window, 500 flooding tenants put 500 batches of --batch-size in flight).
import path from 'node:path'
import { Piscina } from 'piscina'
import type { Intake, Tenant } from '../ring/intake'
import type { LinkOptions } from './link'
import type { ShipFailure, ShipResult, ShipTask } from './worker'
import { log } from '../util/log'
import type { Histogram } from '../metrics/registry'

export interface ShipperOptions {
  /** Observes seconds from handing a batch to a worker to its acknowledgement. */
  ackLatency?: Histogram
  link: LinkOptions
  node: string
  gen: number
  workers: number
  /** Upper bound of ring bytes per batch; a tenant with this much waiting is sent at once. */
  batchBytes: number
  /** How long bytes may wait for more to join their batch. */
  lingerMs: number
}

/**
 * Ring bytes in flight per shipping worker: two batches, so a worker frames the next batch while the server stores
 * the last one.
 */
const WINDOW_BATCHES_PER_WORKER = 2
/** The least a contended batch is cut at: below this, per-batch costs (a task, a frame, an fsync) dominate. */
const MIN_SHARE = 64 * 1024
/**
 * A tenant throttled within this long is cut at MIN_SHARE. The server lets a throttled tenant's batches through as
 * its bucket refills; at --batch-size that is a lump of 1 MiB about once a second, which takes the server's loop,
 * the shipping worker and the tenant's woken writers for tens of ms at once, and shows in every other tenant's
 * delivery p99 (bench:tenants). Cut small, the same rate flows evenly.
 */
const PACED_MS = 5000

export interface ShipperStats {
  batches: number
  /** Ring bytes handed to workers, resends included. */
  sentBytes: number
  /** Ring bytes acknowledged by the server. */
  shippedBytes: number
  wireBytes: number
  duplicateBytes: number
  failures: number
  lastError: string | null
  connected: boolean
  /** Per tenant, seconds its shipping was paused because the server throttled it. */
  pausedSeconds: Record<string, number>
}

interface Flight {
  busy: boolean
  retry: NodeJS.Timeout | null
  linger: NodeJS.Timeout | null
  failures: number
  /** When a throttle of this tenant was last logged (ms), 0 if never. */
  throttleLogged: number
  /** When the server last throttled this tenant (performance.now() ms). */
  throttledAt: number
}

const MAX_BACKOFF_MS = 5000
/** A tenant throttled for long is throttled again and again: said at most this often. */
const THROTTLE_LOG_MS = 60_000

export class Shipper {
  readonly stats: ShipperStats = {
    batches: 0, sentBytes: 0, shippedBytes: 0, wireBytes: 0, duplicateBytes: 0, failures: 0, lastError: null,
    connected: false, pausedSeconds: {},
  }
  private readonly pool: Piscina
  private readonly flights = new Map<Tenant, Flight>()
  /** Tenants with a batch waiting for room in the window, in their turn's order (a Set keeps insertion order). */
  private readonly queue = new Set<Tenant>()
  private inFlightBytes = 0
  /** Tenants with a batch in flight. */
  private busy = 0
  private readonly windowBytes: number
  private stopped = false

  constructor (private readonly intake: Intake, private readonly options: ShipperOptions) {
    this.pool = new Piscina({
      filename: path.join(__dirname, 'worker.js'),
      minThreads: options.workers,
      maxThreads: options.workers,
      // Tasks mostly wait for acknowledgements; the worker's event loop must stay free for its sockets.
      concurrentTasksPerWorker: 64,
      atomics: 'disabled',
      idleTimeout: Infinity,
      // A worker only frames batches of at most --batch-size: a small young generation keeps its memory small.
      resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 96 },
      // Piscina's per-task timing histograms cost ~0.7 MiB of heap and nothing here reads them.
      recordTiming: false,
    })
    this.windowBytes = options.workers * WINDOW_BATCHES_PER_WORKER * options.batchBytes
    intake.onData = (t) => this.kick(t)
  }

  /**
   * Called when a ring got bytes (once per batch, see ring.ts `announced`) and after each acknowledgement: sends
   * a full batch at once, otherwise lets bytes linger a few ms so that
   * one batch (one task, one frame, one fsync on the server) carries many writes. Batches were the agent's
   * largest CPU cost per write before this.
   */
  kick (t: Tenant): void {
    const f = this.flight(t)
    if (f.busy || f.retry || this.queue.has(t)) return
    if (t.ring.used >= this.options.batchBytes) {
      if (f.linger) { clearTimeout(f.linger); f.linger = null }
      return this.send(t)
    }
    if (f.linger) return
    f.linger = setTimeout(() => { f.linger = null; this.send(t) }, this.options.lingerMs)
  }

  private flight (t: Tenant): Flight {
    let f = this.flights.get(t)
    if (!f) {
      f = { busy: false, retry: null, linger: null, failures: 0, throttleLogged: 0, throttledAt: -Infinity }
      this.flights.set(t, f)
    }
    return f
  }

  private send (t: Tenant): void {
    const f = this.flight(t)
    if (f.busy || f.retry || this.stopped || this.queue.has(t)) return
    // Behind the tenants already waiting for their turn, or behind a full window.
    if (this.queue.size > 0 || this.inFlightBytes >= this.windowBytes) {
      this.queue.add(t)
      return
    }
    this.go(t, f)
  }

  /** Cuts the tenant's next batch and hands it to a worker. */
  private go (t: Tenant, f: Flight): void {
    const ring = t.ring
    // Cleared before the cut: a write after this point announces itself again (ring.ts).
    ring.clearAnnouncement()
    const start = ring.tail
    const sources = new Set<number>()
    const end = ring.cut(start, this.share(f), sources)
    if (end === start) return
    f.busy = true
    this.busy++
    this.inFlightBytes += end - start
    const task: ShipTask = {
      link: this.options.link,
      node: this.options.node,
      tenant: t.name,
      gen: this.options.gen,
      data: ring.data,
      control: ring.control,
      start,
      end,
      names: this.intake.names(sources),
    }
    this.stats.sentBytes += end - start
    const sent = process.hrtime.bigint()
    const landed = (): void => {
      this.busy--
      this.inFlightBytes -= end - start
      this.nextTurn()
    }
    this.pool.run(task).then((res: ShipResult | ShipFailure) => {
      landed()
      if (!res.ok && res.retryAfterMs !== undefined) return this.pause(t, f, res.retryAfterMs)
      if (!res.ok) return this.failed(t, f, res.message, res.refused)
      f.busy = false
      this.options.ackLatency?.observe(Number(process.hrtime.bigint() - sent) / 1e9)
      if (f.failures > 0) {
        log('info', 'ship', `tenant ${t.name}: delivering again after ${f.failures} failed attempt(s)`)
      }
      f.failures = 0
      this.stats.connected = true
      this.stats.batches++
      this.stats.shippedBytes += res.bytes
      this.stats.wireBytes += res.wireBytes
      this.stats.duplicateBytes += res.duplicate
      this.intake.release(t, end)
      if (ring.used > 0 || ring.announced) this.kick(t)
    }, (err: Error) => {
      landed()
      this.failed(t, f, `shipping worker failed: ${err.message}`, false)
    })
  }

  /**
   * The most one batch may carry now: --batch-size, or an equal share of the window among the contenders, or
   * MIN_SHARE for a tenant the server throttles.
   */
  private share (f: Flight): number {
    if (performance.now() - f.throttledAt < PACED_MS) return Math.min(this.options.batchBytes, MIN_SHARE)
    const contenders = this.busy + this.queue.size + 1
    return Math.min(this.options.batchBytes, Math.max(MIN_SHARE, Math.floor(this.windowBytes / contenders)))
  }

  /** Lets the tenants at the front of the queue go while the window has room. */
  private nextTurn (): void {
    for (const t of this.queue) {
      if (this.inFlightBytes >= this.windowBytes || this.stopped) return
      this.queue.delete(t)
      this.go(t, this.flight(t))
    }
  }

  /**
   * The server throttled the tenant: only this tenant waits, and its batch goes again after the wait. Its ring
   * fills meanwhile, and then its writers wait or its lines are dropped by its policy, as for a slow server; every
   * other tenant ships on. Not a failure: nothing is wrong with the link.
   */
  private pause (t: Tenant, f: Flight, ms: number): void {
    f.busy = false
    f.throttledAt = performance.now()
    if (this.stopped) return
    if (Date.now() - f.throttleLogged >= THROTTLE_LOG_MS) {
      f.throttleLogged = Date.now()
      log('info', 'ship', `tenant ${t.name}: the server throttles it (over its ingest rate); pausing its shipping, ` +
        `${t.ring.used} bytes kept in memory`)
    }
    const from = performance.now()
    f.retry = setTimeout(() => {
      f.retry = null
      const paused = this.stats.pausedSeconds
      paused[t.name] = (paused[t.name] ?? 0) + (performance.now() - from) / 1000
      this.send(t)
    }, ms)
  }

  /** Keeps the bytes and tries again with backoff; says why once per distinct reason. */
  private failed (t: Tenant, f: Flight, message: string, refused: boolean): void {
    f.busy = false
    if (this.stopped) return
    f.failures++
    this.stats.failures++
    this.stats.connected = false
    if (message !== this.stats.lastError || f.failures === 1) {
      log(refused ? 'error' : 'warn', 'ship',
        `tenant ${t.name}: ${message}; ${t.ring.used} bytes kept in memory, retrying`)
    }
    this.stats.lastError = message
    const delay = Math.min(MAX_BACKOFF_MS, 100 * 2 ** Math.min(f.failures - 1, 10))
    f.retry = setTimeout(() => { f.retry = null; this.send(t) }, delay)
  }

  /** Resolves true when every accepted byte is acknowledged, false if `timeoutMs` passes first. */
  async drain (timeoutMs: number, onProgress?: (pending: number) => void): Promise<boolean> {
    const deadline = Date.now() + timeoutMs
    while (!this.intake.drained) {
      if (Date.now() >= deadline) return false
      onProgress?.(this.intake.pendingBytes())
      await new Promise(resolve => setTimeout(resolve, 50))
    }
    return true
  }

  async close (): Promise<void> {
    this.stopped = true
    for (const f of this.flights.values()) {
      if (f.retry) clearTimeout(f.retry)
      if (f.linger) clearTimeout(f.linger)
    }
    await this.pool.destroy()
  }
}
