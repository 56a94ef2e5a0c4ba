// Per-tenant limits of a server (`logfs server --limits FILE`), JSON, re-read when the file changes:
//
//   { "default": { "ingest": "8MiB/s", "burst": "32MiB", "sources": 10000,
//                  "retention": { "size": "10GiB", "age": "7d" }, "queries": 4, "scan": "20GiB" },
//     "tenants": { "shop": { "ingest": "1MiB/s", "burst": "2MiB", "retention": { "size": "500MiB" } } } }
//
// A tenant absent from `tenants` gets `default`; a key absent from a tenant's entry takes the default's, and a key
// absent from `default` takes the built-in one (retention from --retention-size/--retention-age, no other limit
// but 4 queries at once). A bad file is refused with the line and the reason.
import { findNodeAtLocation, parseTree, printParseErrorCode, type Node, type ParseError } from 'jsonc-parser'
import { InputError, parseDuration, parseSize } from '../util/units'
import { watchFile } from '../util/watch-file'

export interface TenantLimits {
  /** Ingest bytes per second; Infinity for no limit. */
  ingest: number
  /** Bytes a tenant may send at once above its rate (the token bucket's size). */
  burst: number
  /** Sources the tenant may have. */
  sources: number
  retention: { size: number, ageMs: number }
  /** Queries of the tenant that run at once; the rest wait in the tenant's queue. */
  queries: number
  /** Bytes one query may read before it answers what it found, truncated. */
  scan: number
}

export interface Limits {
  default: TenantLimits
  tenants: Map<string, TenantLimits>
}

/** What a server enforces without a limits file, and under a `default` that leaves keys out. */
export function builtinLimits (retention: { size: number, ageMs: number }): TenantLimits {
  return {
    ingest: Infinity, burst: Infinity, sources: Infinity, retention: { ...retention }, queries: 4, scan: Infinity,
  }
}

/** A tenant's limits: its entry, or the default. */
export function limitsFor (limits: Limits, tenant: string): TenantLimits {
  return limits.tenants.get(tenant) ?? limits.default
}

/** The limits in force (what the file said last, or the built-in ones) for each part of the server enforcing them. */
export class LimitsInForce {
  private readonly listeners: Array<(l: Limits) => void> = []

  constructor (private limits: Limits) {}

  get current (): Limits { return this.limits }

  for (tenant: string): TenantLimits { return limitsFor(this.limits, tenant) }

  /** Called with the new limits after each reload. */
  onChange (fn: (l: Limits) => void): void { this.listeners.push(fn) }

  replace (limits: Limits): void {
    this.limits = limits
    for (const fn of this.listeners) fn(limits)
  }
}

const KEYS = ['ingest', 'burst', 'sources', 'retention', 'queries', 'scan']
const RETENTION_KEYS = ['size', 'age']

/** Line of a character offset, from 1. */
function lineOf (text: string, offset: number): number {
  let line = 1
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++
  return line
}

export function parseLimits (text: string, file: string, builtin: TenantLimits): Limits {
  const errors: ParseError[] = []
  const root = parseTree(text, errors, { allowTrailingComma: false, disallowComments: true })
  if (errors.length > 0 || root === undefined) {
    const e = errors[0]
    const where = e ? `line ${lineOf(text, e.offset)}` : 'line 1'
    throw new InputError(`${file}: ${where}: not JSON: ${e ? printParseErrorCode(e.error) : 'empty'}`)
  }
  const refuse = (node: Node, message: string): never => {
    throw new InputError(`${file}: line ${lineOf(text, node.offset)}: ${message}`)
  }
  const members = (node: Node, where: string, known: string[]): Map<string, Node> => {
    if (node.type !== 'object') refuse(node, `${where} must be an object`)
    const out = new Map<string, Node>()
    for (const prop of node.children ?? []) {
      const [key, value] = prop.children as [Node, Node]
      const name = key.value as string
      if (known.length > 0 && !known.includes(name)) {
        refuse(key, `${where}.${name} is not a limit (known: ${known.join(', ')})`)
      }
      out.set(name, value)
    }
    return out
  }
  const top = members(root, 'the file', ['default', 'tenants'])
  const entry = (node: Node, where: string, base: TenantLimits): TenantLimits => {
    const m = members(node, where, KEYS)
    const text = (key: string): string | undefined => {
      const v = m.get(key)
      if (v === undefined) return undefined
      if (v.type !== 'string') refuse(v, `${where}.${key} must be a string such as "8MiB/s" or "20GiB"`)
      return v.value as string
    }
    const count = (key: string): number | undefined => {
      const v = m.get(key)
      if (v === undefined) return undefined
      if (v.type !== 'number' || !Number.isSafeInteger(v.value) || (v.value as number) < 1) {
        refuse(v, `${where}.${key} must be a whole number, 1 or more`)
      }
      return v.value as number
    }
    const size = (key: string, value: string | undefined, node: Node | undefined): number | undefined => {
      if (value === undefined) return undefined
      try { return parseSize(value, `${where}.${key}`) } catch (err) { return refuse(node!, (err as Error).message) }
    }
    const ingestText = text('ingest')
    let ingest: number | undefined
    if (ingestText !== undefined) {
      const rate = /^(.*)\/s$/.exec(ingestText.trim())
      if (!rate) refuse(m.get('ingest')!, `${where}.ingest: '${ingestText}' is not a rate (examples: 1MiB/s, 500KiB/s)`)
      ingest = size('ingest', rate![1], m.get('ingest'))
    }
    const retention = { ...base.retention }
    const r = m.get('retention')
    if (r !== undefined) {
      const rm = members(r, `${where}.retention`, RETENTION_KEYS)
      for (const [key, v] of rm) {
        if (v.type !== 'string') refuse(v, `${where}.retention.${key} must be a string such as "10GiB" or "7d"`)
        try {
          if (key === 'size') retention.size = parseSize(v.value as string, `${where}.retention.size`)
          else retention.ageMs = parseDuration(v.value as string, `${where}.retention.age`)
        } catch (err) {
          refuse(v, (err as Error).message)
        }
      }
    }
    return {
      ingest: ingest ?? base.ingest,
      burst: size('burst', text('burst'), m.get('burst')) ?? base.burst,
      sources: count('sources') ?? base.sources,
      retention,
      queries: count('queries') ?? base.queries,
      scan: size('scan', text('scan'), m.get('scan')) ?? base.scan,
    }
  }
  const dflt = top.get('default')
  const defaults = dflt === undefined ? builtin : entry(dflt, 'default', builtin)
  const tenants = new Map<string, TenantLimits>()
  const t = top.get('tenants')
  if (t !== undefined) {
    for (const [name, node] of members(t, 'tenants', [])) {
      if (name === '' || name.includes('/')) refuse(node, `tenants: '${name}' is not a tenant name`)
      tenants.set(name, entry(node, `tenants.${name}`, defaults))
    }
  }
  // A burst below one second of rate would throttle a tenant under its own rate.
  for (const [name, l] of [['default', defaults] as const, ...tenants]) {
    if (l.burst < l.ingest) {
      const node = findNodeAtLocation(root, name === 'default' ? ['default'] : ['tenants', name]) ?? root
      refuse(node, `${name === 'default' ? 'default' : `tenants.${name}`}: burst must be at least one second of ingest`)
    }
  }
  return { default: defaults, tenants }
}

/** Loads the file now and calls `onChange` after each later change that parses; a bad edit keeps the last good one. */
export function watchLimits (file: string, builtin: TenantLimits, onChange: (l: Limits) => void,
  onError: (e: Error) => void): { initial: Limits, stop: () => void } {
  return watchFile(file, text => parseLimits(text, file, builtin), onChange, onError)
}
