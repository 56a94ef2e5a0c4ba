// Where the embedded store keeps what (store format 2, lib/store/README.md): each tenant's segment files in a
// directory of its own, `tenants/<name>/`, so that retention can delete one tenant's oldest data without touching
// another's. Format 1 kept every tenant's entries in shared segments at the top of the data dir (migrate.ts).
import fs from 'node:fs'
import path from 'node:path'
import { createHash } from 'node:crypto'

export const TENANTS = 'tenants'

/** Names longer than this (after escaping) are cut and given a hash, to stay within a file name's 255 bytes. */
const MAX_NAME = 200

/**
 * A tenant's directory name: the tenant with `%`-escapes for anything a file name could trip on (a tenant is a
 * path component an agent sent, so any byte but `/` and NUL). A long one keeps a readable head and a hash.
 */
export function tenantDirName (tenant: string): string {
  const escaped = encodeURIComponent(tenant).replace(/^\./, '%2E').replace(/~/g, '%7E')
  if (escaped.length <= MAX_NAME) return escaped
  return `${escaped.slice(0, MAX_NAME - 41)}~${createHash('sha1').update(tenant).digest('hex')}`
}

/** The tenant a directory name stands for, or null for a cut one (its entries name it): only those hold a `~`. */
export function tenantOfDirName (name: string): string | null {
  if (name.includes('~')) return null
  try { return decodeURIComponent(name) } catch { return null }
}

export function tenantDir (dir: string, tenant: string): string {
  return path.join(dir, TENANTS, tenantDirName(tenant))
}

/** The tenant directories present, by name. */
export function tenantDirs (dir: string): string[] {
  try {
    return fs.readdirSync(path.join(dir, TENANTS), { withFileTypes: true }).filter(d => d.isDirectory())
      .map(d => d.name).sort()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
}

/** Segment ids in a directory, oldest first. */
export function segmentIds (dir: string): number[] {
  return fs.readdirSync(dir)
    .map(f => /^(\d{12})\.seg$/.exec(f)).filter((m): m is RegExpExecArray => m !== null)
    .map(m => Number(m[1])).sort((a, b) => a - b)
}

export function segmentFile (dir: string, id: number): string {
  return path.join(dir, `${String(id).padStart(12, '0')}.seg`)
}

/**
 * A data dir's files whose name ends in `ext` (`.seg`, `.idx`), full paths, sorted: in its tenants' directories,
 * and at its top for a data dir of format 1. For the tools that look at a store from outside (benches, tests).
 */
export function storeFiles (dir: string, ext: string): string[] {
  return (fs.readdirSync(dir, { recursive: true }) as string[]).filter(f => f.endsWith(ext)).sort()
    .map(f => path.join(dir, f))
}

/** Makes a directory's new entries (a file created or renamed, a file removed) survive a crash. */
export function fsyncDir (dir: string): void {
  const fd = fs.openSync(dir, 'r')
  try { fs.fsyncSync(fd) } finally { fs.closeSync(fd) }
}
