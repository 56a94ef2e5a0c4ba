// Every tenant's segment files: one Segments (a directory, layout.ts) per tenant, opened together when the store
// opens and made for a new tenant on its first batch. Group commit stays per directory: a batch of one tenant
// waits for that tenant's fdatasync only, and batches of several tenants wait for theirs side by side.
import fs from 'node:fs'
import path from 'node:path'
import { Segments, type Segment } from './segments'
import { TENANTS, segmentIds, tenantDir, tenantDirName, tenantDirs, tenantOfDirName } from './layout'
import type { DiskState } from './disk-state'
import type { EntryRef } from './segment'
import { splitSource } from '../../util/sources'

export interface TenantSegments {
  /** Null only for a cut directory name whose segments hold no entry yet (layout.ts). */
  tenant: string | null
  segments: Segments
}

export class TenantSegmentSets {
  private readonly sets = new Map<string, TenantSegments>()

  /** `segmentBytes` gives the size at which a tenant's active segment is closed. */
  constructor (readonly dir: string, private readonly disk: DiskState,
    private readonly segmentBytes: (tenant: string | null) => number) {}

  get all (): IterableIterator<TenantSegments> { return this.sets.values() }
  get totalBytes (): number {
    let n = 0
    for (const t of this.sets.values()) n += t.segments.totalBytes
    return n
  }

  get segmentCount (): number {
    let n = 0
    for (const t of this.sets.values()) n += t.segments.list.length
    return n
  }

  /**
   * Opens every tenant's directory, handing each entry to `index` (see Segments.open). A directory without a
   * segment (its first could not be made: disk full) is removed, and made again on the tenant's next batch.
   */
  open (index: (ref: EntryRef, seg: Segment) => void,
    known: (file: string, size: number) => EntryRef[] | null): number {
    let entries = 0
    for (const name of tenantDirs(this.dir)) {
      const dir = path.join(this.dir, TENANTS, name)
      if (segmentIds(dir).length === 0) {
        fs.rmSync(dir, { recursive: true, force: true })
        continue
      }
      const set: TenantSegments = { tenant: tenantOfDirName(name), segments: null as unknown as Segments }
      set.segments = new Segments(dir, this.segmentBytes(set.tenant), this.disk)
      entries += set.segments.open((ref, seg) => {
        set.tenant ??= splitSource(ref.source).tenant
        index(ref, seg)
      }, known)
      this.sets.set(name, set)
    }
    return entries
  }

  /** The tenant's segments, made (directory and first segment) on its first batch; throws when they cannot be. */
  for (tenant: string): TenantSegments {
    const name = tenantDirName(tenant)
    let set = this.sets.get(name)
    if (!set) {
      const segments = new Segments(tenantDir(this.dir, tenant), this.segmentBytes(tenant), this.disk)
      segments.open(() => {})
      set = { tenant, segments }
      this.sets.set(name, set)
    }
    set.tenant ??= tenant
    return set
  }

  close (): void {
    for (const t of this.sets.values()) t.segments.close()
  }
}
