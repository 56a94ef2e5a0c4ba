// Deleting tenants' segments: retention (each tenant's size and age limits, its own segments only) and a disk
// running short (the oldest segment of the tenant furthest over its share; tenant-retention.ts decides). Before a
// segment goes, every source's high-water marks are saved (marks.ts): they are then the only record of what it
// held. What a deleted segment leaves in the index is the store's to forget (`ReclaimHost`).
import fs from 'node:fs'
import path from 'node:path'
import { saveMarks } from './marks'
import { sidecarFile } from './sidecar'
import { noSpace } from './disk-state'
import { expired, furthestOver, type Retention } from './tenant-retention'
import type { Segment } from './segments'
import type { TenantSegmentSets, TenantSegments } from './tenant-segments'
import { log } from '../../util/log'

export interface ReclaimHost {
  readonly dir: string
  readonly tenants: TenantSegmentSets
  retentionOf: (tenant: string) => Retention
  /** Every source's high-water marks, for marks.json. */
  marks: () => Iterable<[string, Map<number, number>]>
  /** Forgets a segment about to be deleted: its index, and its extents in its tenant's sources. */
  forget: (seg: Segment, tenant: string) => void
  /** Stops answering from a segment's sidecar, so that it can be deleted. */
  detachSidecar: (seg: Segment) => void
}

export class Reclaim {
  constructor (private readonly host: ReclaimHost) {}

  /**
   * Deletes each tenant's old segments, never the one being written, until both of its limits hold. A failure (no
   * room for marks.json) keeps the segment until the next try: after the tenant's next roll, or within a minute.
   */
  applyRetention (now: number, sets: Iterable<TenantSegments>): void {
    let marked = false
    for (const set of sets) {
      if (set.tenant === null) continue
      const retention = this.host.retentionOf(set.tenant)
      const segments = set.segments
      try {
        while (segments.list.length > 1) {
          const reason = expired(retention, segments.totalBytes, segments.list[0].newest, now)
          if (reason === null) break
          if (!marked) this.saveMarks()
          marked = true
          const file = this.removeOldest(set)
          log('info', 'store', `retention removed ${file}`, { tenant: set.tenant, reason })
        }
      } catch (err) {
        log('warn', 'store', `retention failed, old segments stay until it succeeds: ${(err as Error).message}`,
          { tenant: set.tenant })
      }
    }
  }

  /**
   * The disk is short: deletes the oldest segment of the tenant furthest over its share. False when no tenant is
   * over its share with a segment to give. When marks.json has no room even after the segment's sidecar is
   * deleted, the segment goes first and marks.json is written right after: a store that cannot free space
   * refuses every batch, while only a crash between the two would let a late resend of its bytes in again.
   */
  makeRoom (): boolean {
    const holdings = [...this.host.tenants.all].filter(t => t.tenant !== null).map(set => ({
      key: set, bytes: set.segments.totalBytes, retentionSize: this.host.retentionOf(set.tenant!).size,
      deletable: set.segments.list.length > 1,
    }))
    const victim = furthestOver(holdings)
    if (!victim) return false
    const set = victim.holding.key
    const oldest = set.segments.list[0]
    let marked = true
    try {
      this.saveMarks()
    } catch (err) {
      if (!noSpace(err)) throw err
      // The sidecar goes with its segment anyway; its room lets marks.json be written first.
      this.host.detachSidecar(oldest)
      fs.rmSync(sidecarFile(oldest.file), { force: true })
      try {
        this.saveMarks()
      } catch (again) {
        if (!noSpace(again)) throw again
        marked = false
      }
    }
    const file = this.removeOldest(set)
    log('warn', 'store', `disk short: removed ${file} of tenant ${set.tenant!}, the furthest over its share`,
      { tenant: set.tenant, bytes: oldest.size, held: victim.holding.bytes, share: Math.round(victim.share) })
    if (!marked) {
      try {
        this.saveMarks()
        log('info', 'store', 'marks.json written after the segment was removed: there was no room for it before')
      } catch (err) {
        const why = (err as Error).message
        log('warn', 'store', `marks.json not written; after a restart a resend of removed bytes may be stored: ${why}`)
      }
    }
    return true
  }

  private saveMarks (): void {
    saveMarks(this.host.dir, this.host.marks())
  }

  /** Deletes a tenant's oldest segment (never its active one) and its sidecar, once the store forgot it. */
  private removeOldest (set: TenantSegments): string {
    const oldest = set.segments.list[0]
    this.host.forget(oldest, set.tenant!)
    set.segments.removeOldest()
    return path.relative(this.host.dir, oldest.file)
  }
}
