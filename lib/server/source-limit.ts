// The `sources` limit: how many sources (files, over all of its nodes) a tenant may have. A batch that would give
// a tenant at its limit a new source is answered `unavailable` with the reason, as a batch the store cannot take
// now: the agent keeps the bytes and sends them again, so nothing accepted is lost, and they go through once the
// limit is raised (the limits file is re-read) or the tenant's sources are fewer. The whole batch waits, because
// its sources' records must arrive in order.
//
// A tenant's sources are read from the store when its first batch under a limit arrives, and kept: every batch
// after that is checked against a set in memory, and the store is read again only before a refusal, so that a
// source stored while the set was not kept is never taken for a new one. A gateway of a JetStream cluster still
// loading its index counts only the sources loaded so far.
import type { LogStore } from '../store/log-store'
import type { LimitsInForce } from './limits'
import { sourceName } from '../util/sources'
import type { WireRecord } from '../wire/frames'

export class SourceLimit {
  /** Per tenant, the full names of its sources. */
  private readonly known = new Map<string, Set<string>>()
  /** Per tenant, batches refused for a new source over the limit. */
  readonly refused = new Map<string, number>()

  constructor (private readonly store: LogStore, private readonly limits: LimitsInForce) {}

  /** Null when the batch may go on (its new sources are then counted); otherwise why not. */
  admit (node: string, tenant: string, recs: readonly WireRecord[]): string | null {
    const limit = this.limits.for(tenant).sources
    if (limit === Infinity) {
      this.known.delete(tenant)
      return null
    }
    // Read only under a limit: a batch of a tenant without one costs nothing here.
    const names = [...new Set(recs.map(([p]) => sourceName(node, p)))]
    let mine = this.known.get(tenant) ?? this.read(tenant)
    let fresh = new Set(names.filter(n => !mine.has(n)))
    if (fresh.size === 0) return null
    if (mine.size + fresh.size > limit) {
      mine = this.read(tenant)
      fresh = new Set(names.filter(n => !mine.has(n)))
    }
    if (mine.size + fresh.size > limit) {
      this.refused.set(tenant, (this.refused.get(tenant) ?? 0) + 1)
      return `tenant ${tenant} is at its limit of ${limit} sources, and ${[...fresh][0]} would be new; ` +
        'the agent keeps the bytes and sends them again once the limit ("sources" in the limits file) is raised'
    }
    for (const name of fresh) mine.add(name)
    return null
  }

  private read (tenant: string): Set<string> {
    const set = new Set(this.store.listSources(t => t === tenant).map(s => s.source))
    this.known.set(tenant, set)
    return set
  }
}
