// Declarative collection settings per tenant (a Kubernetes namespace under the DaemonSet layout), read from a
// JSON file — a ConfigMap key in Kubernetes — and re-read when it changes. Documented in docs/operations.md.
//
//   { "version": 1,
//     "tenants": {
//       "*":    { "fullPolicy": "block" },
//       "shop": { "ringSize": "32MiB", "fullPolicy": "drop", "skip": ["**/debug.log"], "owner": "1000:1000" } } }
import { InputError, parseSize } from '../util/units'
import { globToRegExp } from '../util/glob'
import { watchFile } from '../util/watch-file'
import { parseOwner } from '../util/owner'
import type { FullPolicy } from '../ring/intake'
import { checkRingSize } from '../ring/records'

export interface TenantSettings {
  /** Ring size for this tenant's ring when it is created (a running ring keeps its size). */
  ringSize?: number
  fullPolicy?: FullPolicy
  /** Files created at matching paths (relative to the mount) are kept in memory but not shipped. */
  skip?: RegExp[]
  /** When given, only files created at matching paths are shipped. */
  ship?: RegExp[]
  /** Owner of directories created in this tenant, so non-root applications can write where kubelet made dirs. */
  owner?: [number, number]
}

export interface Collection { tenants: Map<string, TenantSettings> }

export const EMPTY: Collection = { tenants: new Map() }

const KEYS = new Set(['ringSize', 'fullPolicy', 'skip', 'ship', 'owner'])

function globs (v: unknown, where: string): RegExp[] {
  if (!Array.isArray(v) || !v.every(g => typeof g === 'string' && g.length > 0)) {
    throw new InputError(`${where} must be a list of globs`)
  }
  return v.map(globToRegExp)
}

export function parseCollection (text: string, file: string): Collection {
  let doc: unknown
  try { doc = JSON.parse(text) } catch (err) { throw new InputError(`${file}: not JSON: ${(err as Error).message}`) }
  const d = doc as { version?: unknown, tenants?: unknown }
  if (d === null || typeof d !== 'object') {
    throw new InputError(`${file}: expected an object with "version" and "tenants"`)
  }
  if (d.version !== 1) throw new InputError(`${file}: "version" must be 1`)
  if (d.tenants === null || typeof d.tenants !== 'object' || Array.isArray(d.tenants)) {
    throw new InputError(`${file}: "tenants" must be an object`)
  }
  const tenants = new Map<string, TenantSettings>()
  for (const [name, raw] of Object.entries(d.tenants as Record<string, unknown>)) {
    const where = `${file}: tenants.${name}`
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
      throw new InputError(`${where} must be an object`)
    }
    const r = raw as Record<string, unknown>
    for (const k of Object.keys(r)) {
      if (!KEYS.has(k)) throw new InputError(`${where}.${k} is not a setting (known: ${[...KEYS].join(', ')})`)
    }
    const s: TenantSettings = {}
    if (r.ringSize !== undefined) {
      s.ringSize = checkRingSize(parseSize(String(r.ringSize), `${where}.ringSize`), `${where}.ringSize`, InputError)
    }
    if (r.fullPolicy !== undefined) {
      if (r.fullPolicy !== 'block' && r.fullPolicy !== 'drop') {
        throw new InputError(`${where}.fullPolicy must be "block" or "drop"`)
      }
      s.fullPolicy = r.fullPolicy
    }
    if (r.skip !== undefined) s.skip = globs(r.skip, `${where}.skip`)
    if (r.ship !== undefined) s.ship = globs(r.ship, `${where}.ship`)
    if (r.owner !== undefined) {
      const owner = parseOwner(String(r.owner))
      if (!owner) throw new InputError(`${where}.owner must be "UID:GID"`)
      s.owner = owner
    }
    tenants.set(name, s)
  }
  return { tenants }
}

/** A tenant's settings: its own entry over the `*` entry. */
export function settingsFor (c: Collection, tenant: string): TenantSettings {
  return { ...c.tenants.get('*'), ...c.tenants.get(tenant) }
}

/** Loads the file now and calls `onChange` after each later change that parses; a bad edit keeps the last good one. */
export function watchCollection (file: string, onChange: (c: Collection) => void,
  onError: (e: Error) => void): { initial: Collection, stop: () => void } {
  return watchFile(file, text => parseCollection(text, file), onChange, onError)
}
