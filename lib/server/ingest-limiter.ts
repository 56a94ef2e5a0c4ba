// The ingest rate of each tenant: a token bucket per tenant, filled at the tenant's `ingest` rate up to `burst`
// bytes, that every batch takes its log bytes from. A batch the bucket cannot pay for is throttled: neither stored
// nor refused, and its sender is told how long to wait. Rates follow the limits file as it is reloaded.
//
// Behind several gateways of one JetStream cluster, each gateway fills its buckets at `ingest / gateways` (Loki's
// "global" strategy: no coordination between gateways, exact while agents spread evenly over them); the burst
// stays whole on each, as a burst bounds one sender's batch, not the tenant's total.
import { limitsFor, type Limits, type LimitsInForce, type TenantLimits } from './limits'

/** The shortest wait a throttle asks for: a sender told to wait less would mostly be throttled again at once. */
const MIN_RETRY_MS = 10

/** A rate given without a burst (the built-in burst is unlimited) gets one second of it. */
const sizeOf = (l: TenantLimits, rate: number): number => Number.isFinite(l.burst) ? l.burst : rate

class TokenBucket {
  private tokens: number
  private at: number

  constructor (private rate: number, private size: number, now: number) {
    this.tokens = size
    this.at = now
  }

  /** A reload changes the rate and size; the tokens already earned stay, up to the new size. */
  rerate (rate: number, size: number, now: number): void {
    this.fill(now)
    this.rate = rate
    this.size = size
    this.tokens = Math.min(this.tokens, size)
  }

  private fill (now: number): void {
    this.tokens = Math.min(this.size, this.tokens + (now - this.at) / 1000 * this.rate)
    this.at = now
  }

  /**
   * Takes `bytes` and answers 0, or answers the ms until it could. A batch larger than the bucket goes once the
   * bucket is full and leaves it in debt, so such batches still average out at the rate.
   */
  take (bytes: number, now: number): number {
    this.fill(now)
    const need = Math.min(bytes, this.size)
    if (this.tokens >= need) {
      this.tokens -= bytes
      return 0
    }
    return Math.max(MIN_RETRY_MS, Math.ceil((need - this.tokens) / this.rate * 1000))
  }
}

export class IngestLimiter {
  private readonly buckets = new Map<string, TokenBucket>()
  /** Per tenant, batches throttled. */
  readonly throttled = new Map<string, number>()
  /** Per tenant, log bytes of batches let through (resends included: they cost the server the same). */
  readonly admitted = new Map<string, number>()
  /**
   * Per tenant, ms it was held back, and until when (clock ms): the throttles' waits joined, so that many senders
   * throttled at once count the time once.
   */
  private readonly held = new Map<string, { ms: number, until: number }>()

  constructor (private readonly limits: LimitsInForce, private readonly gateways: number,
    private readonly clock: () => number = () => performance.now()) {
    limits.onChange(l => this.rerate(l))
  }

  /** Charges a batch of `bytes` log bytes to the tenant: 0 when it may go on, else the ms to wait before a resend. */
  admit (tenant: string, bytes: number): number {
    const now = this.clock()
    const bucket = this.bucket(tenant, now)
    const wait = bucket ? bucket.take(bytes, now) : 0
    const counts = wait === 0 ? this.admitted : this.throttled
    counts.set(tenant, (counts.get(tenant) ?? 0) + (wait === 0 ? bytes : 1))
    if (wait > 0) this.hold(tenant, now, now + wait)
    return wait
  }

  /** Seconds the tenant was held back (throttled) since the server started. */
  throttledSeconds (tenant: string): number {
    const h = this.held.get(tenant)
    if (!h) return 0
    // A wait still running counts up to now.
    return (h.ms - Math.max(0, h.until - this.clock())) / 1000
  }

  private hold (tenant: string, from: number, until: number): void {
    let h = this.held.get(tenant)
    if (!h) this.held.set(tenant, h = { ms: 0, until: 0 })
    if (until <= h.until) return
    h.ms += until - Math.max(from, h.until)
    h.until = until
  }

  /** The tenant's rate on this gateway, bytes per second. */
  rateOf (tenant: string): number { return this.share(this.limits.for(tenant)) }

  private bucket (tenant: string, now: number): TokenBucket | undefined {
    let b = this.buckets.get(tenant)
    if (b) return b
    const l = this.limits.for(tenant)
    if (l.ingest === Infinity) return undefined
    b = new TokenBucket(this.share(l), sizeOf(l, this.share(l)), now)
    this.buckets.set(tenant, b)
    return b
  }

  private share (l: TenantLimits): number { return l.ingest / this.gateways }

  private rerate (limits: Limits): void {
    const now = this.clock()
    for (const [tenant, b] of this.buckets) {
      const l = limitsFor(limits, tenant)
      if (l.ingest === Infinity) this.buckets.delete(tenant)
      else b.rerate(this.share(l), sizeOf(l, this.share(l)), now)
    }
  }
}
