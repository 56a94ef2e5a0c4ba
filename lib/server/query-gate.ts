// Query slots per tenant: at most `queries` (the tenant's limit) of its queries run at once; the rest wait in the
// tenant's own queue, first come first served, and one that waits longer than the server's query wait is refused
// (HTTP 429 with Retry-After). Tenants do not share slots, so one tenant's back-to-back scans never make another
// tenant's query wait.
//
// A query is charged to the one tenant whose sources it reads. A query reading several tenants' sources (a `*`
// token grepping everything, a token granting two tenants) is charged to the tenant named `*`: cross-tenant
// queries queue among themselves, under `tenants["*"]` of the limits file when it has one, else `default`.
import type { Registry } from '../metrics/registry'
import type { LimitsInForce } from './limits'

/** How long a query waits for a slot before it is refused, unless `logfs server --query-wait` says otherwise. */
export const DEFAULT_QUERY_WAIT_MS = 30_000

/** What a query spanning several tenants is charged to. */
export const CROSS_TENANT = '*'

/** The caller went away while its query waited: it is dropped from the queue, not run. */
export class QueryAbandoned extends Error {}

/** The query waited its whole wait for a slot. */
export class QueryBusy extends Error {
  constructor (readonly tenant: string, readonly retryAfterSeconds: number, running: number) {
    super(`tenant ${tenant} has ${running} queries running, its limit, and this one waited its turn too long; ` +
      `retry in ${retryAfterSeconds} s`)
  }
}

interface Waiter { admit: () => void }

interface Lane { running: number, queue: Waiter[] }

export interface QueueState { tenant: string, running: number, queued: number }

/** The tenant a query reading these tenants' sources is charged to; null when it reads none. */
export function chargedTenant (tenants: Iterable<string>): string | null {
  const set = new Set(tenants)
  if (set.size === 0) return null
  return set.size === 1 ? [...set][0] : CROSS_TENANT
}

export class QueryGate {
  private readonly lanes = new Map<string, Lane>()
  private readonly rejected = new Map<string, number>()

  constructor (private readonly limits: LimitsInForce, private readonly waitMs: number) {
    // A raised limit lets waiting queries in at once; a lowered one lets running queries finish.
    limits.onChange(() => { for (const tenant of this.lanes.keys()) this.admit(tenant) })
  }

  /**
   * Runs `fn` in one of `tenant`'s slots (at once when `tenant` is null); rejects with QueryBusy after the wait, and
   * with QueryAbandoned when `gone` aborts first.
   */
  async run<T> (tenant: string | null, fn: () => Promise<T>, gone?: AbortSignal): Promise<T> {
    if (tenant === null) return await fn()
    await this.acquire(tenant, gone)
    try {
      return await fn()
    } finally {
      this.release(tenant)
    }
  }

  /** Running and waiting queries of each tenant that has any, by tenant name. */
  state (): QueueState[] {
    return [...this.lanes].map(([tenant, l]) => ({ tenant, running: l.running, queued: l.queue.length }))
      .sort((a, b) => a.tenant.localeCompare(b.tenant))
  }

  /** Queries of `tenant` waiting for a slot now. */
  queued (tenant: string): number { return this.lanes.get(tenant)?.queue.length ?? 0 }

  registerMetrics (m: Registry): void {
    const per = (pick: (s: QueueState) => number): Array<[Record<string, string>, number]> =>
      this.state().map(s => [{ tenant: s.tenant }, pick(s)])
    m.gauge('logfs_tenant_queries_running', 'Queries running now, per tenant they are charged to.',
      () => per(s => s.running), ['tenant'])
    m.gauge('logfs_tenant_queries_queued', 'Queries waiting for one of their tenant\'s query slots.',
      () => per(s => s.queued), ['tenant'])
    m.counter('logfs_tenant_queries_rejected_total', 'Queries refused (429) after waiting for a slot too long.',
      () => [...this.rejected].map(([tenant, n]) => [{ tenant }, n]), ['tenant'])
  }

  private lane (tenant: string): Lane {
    let l = this.lanes.get(tenant)
    if (!l) this.lanes.set(tenant, l = { running: 0, queue: [] })
    return l
  }

  private acquire (tenant: string, gone?: AbortSignal): Promise<void> {
    const l = this.lane(tenant)
    if (l.queue.length === 0 && l.running < this.limits.for(tenant).queries) {
      l.running++
      return Promise.resolve()
    }
    return new Promise((resolve, reject) => {
      const leave = (err: Error): void => {
        clearTimeout(timer)
        gone?.removeEventListener('abort', abandon)
        l.queue.splice(l.queue.indexOf(waiter), 1)
        this.forget(tenant)
        reject(err)
      }
      const abandon = (): void => leave(new QueryAbandoned('the caller went away'))
      const waiter: Waiter = {
        admit: () => {
          clearTimeout(timer)
          gone?.removeEventListener('abort', abandon)
          resolve()
        },
      }
      const timer = setTimeout(() => {
        this.rejected.set(tenant, (this.rejected.get(tenant) ?? 0) + 1)
        leave(new QueryBusy(tenant, Math.max(1, Math.ceil(this.waitMs / 1000)), l.running))
      }, this.waitMs)
      gone?.addEventListener('abort', abandon)
      l.queue.push(waiter)
    })
  }

  private release (tenant: string): void {
    this.lane(tenant).running--
    this.admit(tenant)
  }

  /** Lets waiting queries into the slots free under the tenant's current limit. */
  private admit (tenant: string): void {
    const l = this.lane(tenant)
    while (l.queue.length > 0 && l.running < this.limits.for(tenant).queries) {
      l.running++
      l.queue.shift()!.admit()
    }
    this.forget(tenant)
  }

  /** An idle tenant's lane goes, so thousands of tenants that queried once cost nothing. */
  private forget (tenant: string): void {
    const l = this.lanes.get(tenant)
    if (l && l.running === 0 && l.queue.length === 0) this.lanes.delete(tenant)
  }
}
