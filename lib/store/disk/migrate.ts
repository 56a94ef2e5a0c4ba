// Store format 1 kept every tenant's entries in shared segments at the top of the data dir; format 2 keeps each
// tenant's in its own directory (layout.ts). Opening a format-1 data dir copies its entries, oldest segment
// first, into the tenants' segments and deletes each old segment (and its sidecar) once its copies are fsynced,
// so the migration needs room for about one segment more. A crash midway is taken up on the next open: entries
// the tenants' segments already hold are not copied again. The tenants' sidecars are built afterwards by the
// store, as for any segment found without one.
import fs from 'node:fs'
import { encodeEntry, scanSegment } from './segment'
import { sidecarFile } from './sidecar'
import { fsyncDir, segmentFile, segmentIds } from './layout'
import { TenantSegmentSets, type TenantSegments } from './tenant-segments'
import type { DiskState } from './disk-state'
import { log } from '../../util/log'
import { splitSource } from '../../util/sources'

/** Bytes of one tenant's entries gathered before they are written with one call. */
const WRITE_BYTES = 4 * 1024 * 1024

export function migrateFormat1 (dir: string, disk: DiskState, segmentBytes: (tenant: string | null) => number): void {
  const ids = fs.existsSync(dir) ? segmentIds(dir) : []
  if (ids.length === 0) return
  log('info', 'store', `migrating ${dir} from store format 1 to 2 (a directory of segments per tenant)`,
    { segments: ids.length })
  const sets = new TenantSegmentSets(dir, disk, segmentBytes)
  const high = new Map<string, number>()
  const key = (source: string, gen: number): string => `${gen}\n${source}`
  sets.open(ref => {
    const k = key(ref.source, ref.gen)
    high.set(k, Math.max(high.get(k) ?? 0, ref.offset + ref.length))
  }, () => null)
  let entries = 0
  let bytes = 0
  try {
    for (const [i, id] of ids.entries()) {
      const file = segmentFile(dir, id)
      // As when format 1 opened: only the newest segment can have a torn tail, and only its CRCs are checked.
      const scan = scanSegment(file, i === ids.length - 1)
      if (scan.problem) log('warn', 'store', `${file}: ${scan.problem}; copying the entries before it`)
      const data = fs.readFileSync(file)
      const pending = new Map<TenantSegments, { bufs: Buffer[], size: number }>()
      const write = (set: TenantSegments): void => {
        const p = pending.get(set)
        if (!p || p.bufs.length === 0) return
        set.segments.write(Buffer.concat(p.bufs))
        p.bufs = []
        p.size = 0
        if (set.segments.active.size >= set.segments.segmentBytes) set.segments.closeActive()
      }
      for (const ref of scan.refs) {
        const k = key(ref.source, ref.gen)
        const h = high.get(k) ?? 0
        const end = ref.offset + ref.length
        if (end <= h) continue
        const skip = Math.max(0, h - ref.offset)
        high.set(k, end)
        const set = sets.for(splitSource(ref.source).tenant)
        const buf = encodeEntry({ source: ref.source, gen: ref.gen, offset: ref.offset + skip, timestamp: ref.timestamp,
          data: data.subarray(ref.at + skip, ref.at + ref.length) })
        const p = pending.get(set) ?? { bufs: [], size: 0 }
        pending.set(set, p)
        p.bufs.push(buf)
        p.size += buf.length
        if (p.size >= WRITE_BYTES) write(set)
        entries++
        bytes += ref.length - skip
      }
      for (const set of pending.keys()) { write(set); set.segments.flush() }
      if (disk.failed) throw disk.failed
      fs.rmSync(sidecarFile(file), { force: true })
      fs.rmSync(file)
      fsyncDir(dir)
    }
  } catch (err) {
    throw new Error(`cannot migrate ${dir} to store format 2 (it needs room for about one segment more): ` +
      (err as Error).message)
  } finally {
    sets.close()
  }
  for (const f of fs.readdirSync(dir)) {
    if (/^\d{12}\.(idx(\.\d+\.tmp)?|seg\.new)$/.test(f)) fs.rmSync(`${dir}/${f}`, { force: true })
  }
  log('info', 'store', `migrated ${dir} to store format 2`, { segments: ids.length, entries, bytes })
}
