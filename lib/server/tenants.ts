// What each tenant uses against its limits, for `GET /v1/tenants`, `logfs tenants` and the console: ingest over
// the last minute against `ingest`, stored bytes and oldest data against `retention`, sources against `sources`,
// seconds throttled, queries waiting. A token sees only its own tenants.
import type { LogStore } from '../store/log-store'
import { oldestOf } from '../store/log-store'
import type { SourceIndex } from '../store/source'
import type { LimitsInForce } from './limits'

/** The window `ingest.bytesPerSec` is taken over. */
export const WINDOW_MS = 60_000
const SLOT_MS = 1000
const SLOTS = WINDOW_MS / SLOT_MS

/** Bytes a tenant sent, per second over the last minute: a ring of one-second slots per tenant. */
export class IngestMeter {
  private readonly slots = new Map<string, { bytes: Float64Array, second: Float64Array }>()

  add (tenant: string, bytes: number, now = Date.now()): void {
    let s = this.slots.get(tenant)
    if (!s) this.slots.set(tenant, s = { bytes: new Float64Array(SLOTS), second: new Float64Array(SLOTS) })
    const second = Math.floor(now / SLOT_MS)
    const i = second % SLOTS
    if (s.second[i] !== second) { s.second[i] = second; s.bytes[i] = 0 }
    s.bytes[i] += bytes
  }

  /** Mean bytes per second over the last WINDOW_MS. */
  rate (tenant: string, now = Date.now()): number {
    const s = this.slots.get(tenant)
    if (!s) return 0
    const oldest = Math.floor(now / SLOT_MS) - SLOTS + 1
    let sum = 0
    for (let i = 0; i < SLOTS; i++) if (s.second[i] >= oldest) sum += s.bytes[i]
    return sum / (WINDOW_MS / 1000)
  }

  tenants (): IterableIterator<string> { return this.slots.keys() }
}

/** Figures kept by other parts of the server: the ingest limiter and the query queues. */
export interface TenantActivity {
  /** Seconds the tenant's batches were refused for its ingest rate, since the server started. */
  throttledSeconds: (tenant: string) => number
  /** Queries of the tenant waiting for a slot now. */
  queuedQueries: (tenant: string) => number
}

/** One tenant's row; null where a limit is not set. */
export interface TenantRow {
  tenant: string
  ingest: { bytesPerSec: number, limit: number | null, burst: number | null }
  stored: { bytes: number, oldest: number | null, retentionBytes: number, retentionAgeMs: number }
  sources: { count: number, limit: number | null }
  queries: { queued: number, limit: number, scanLimit: number | null }
  throttledSeconds: number
}

const finite = (n: number): number | null => Number.isFinite(n) ? n : null

/**
 * Every tenant the caller may see that holds data, sent within the window, or has its own limits entry, in name
 * order.
 */
export function tenantRows (store: LogStore, allowed: (tenant: string) => boolean, limits: LimitsInForce,
  meter: IngestMeter, activity: TenantActivity, now = Date.now()): TenantRow[] {
  const sources = new Map<string, SourceIndex[]>()
  for (const s of store.allSources()) {
    if (!allowed(s.tenant)) continue
    let list = sources.get(s.tenant)
    if (!list) sources.set(s.tenant, list = [])
    list.push(s)
  }
  const names = new Set(sources.keys())
  for (const t of meter.tenants()) if (allowed(t)) names.add(t)
  for (const t of limits.current.tenants.keys()) if (allowed(t)) names.add(t)
  return [...names].sort().map(tenant => {
    const l = limits.for(tenant)
    const mine = sources.get(tenant) ?? []
    return {
      tenant,
      ingest: {
        bytesPerSec: Math.round(meter.rate(tenant, now) * 10) / 10, limit: finite(l.ingest), burst: finite(l.burst),
      },
      stored: {
        bytes: mine.reduce((n, s) => n + s.bytes, 0),
        oldest: oldestOf(mine),
        retentionBytes: l.retention.size,
        retentionAgeMs: l.retention.ageMs,
      },
      sources: { count: mine.length, limit: finite(l.sources) },
      queries: { queued: activity.queuedQueries(tenant), limit: l.queries, scanLimit: finite(l.scan) },
      throttledSeconds: Math.round(activity.throttledSeconds(tenant) * 10) / 10,
    }
  })
}
