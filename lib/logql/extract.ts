// LogQL's parser stages: the labels json, logfmt, pattern and regexp take out of a line. Label names are
// sanitized as Loki does: a character outside [A-Za-z0-9_] becomes `_`, and nested JSON keys are joined by `_`.
import { QueryError } from '../query/errors'
import type { Labels } from './labels'
import { flatJsonLabels } from './json-flat'

export function sanitize (name: string): string {
  const s = name.replace(/[^A-Za-z0-9_]/g, '_')
  return /^[0-9]/.test(s) ? `_${s}` : s
}

/** Sanitized names of the keys seen: lines of one source repeat the same few keys. */
const sanitized = new Map<string, string>()
const MAX_SANITIZED = 10_000

function sanitizeKey (key: string): string {
  let name = sanitized.get(key)
  if (name === undefined) {
    name = sanitize(key)
    if (sanitized.size >= MAX_SANITIZED) sanitized.clear()
    sanitized.set(key, name)
  }
  return name
}

/**
 * The fields of a JSON object line, nested objects flattened; null when the line is not a JSON object. With
 * `only`, just the fields of those names: the same values a full extraction gives them, for less work. `plain`:
 * the line is known to be ASCII without escapes or control characters (json-flat.ts).
 */
export function jsonLabels (line: string, only: ReadonlySet<string> | null = null, plain = false): Labels | null {
  const flat = only === null ? undefined : flatJsonLabels(line, only, plain)
  if (flat !== undefined) return flat
  let parsed: unknown
  try { parsed = JSON.parse(line) } catch { return null }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return null
  const out: Labels = {}
  const walk = (obj: Record<string, unknown>, prefix: string): void => {
    for (const [k, v] of Object.entries(obj)) {
      const name = prefix + sanitizeKey(k)
      if (v !== null && typeof v === 'object') {
        // Arrays are skipped, as Loki does; their elements are reached by an expression such as `a[0]`.
        if (!Array.isArray(v)) walk(v as Record<string, unknown>, name + '_')
      } else if (only === null || only.has(name)) {
        out[name] = v === null ? '' : String(v)
      }
    }
  }
  walk(parsed as Record<string, unknown>, '')
  return out
}

/** The value at a JSON path such as `a.b[0].c` or `["a b"]`, as a label value; undefined when absent. */
export function jsonPath (line: string, path: string): string | undefined {
  let v: unknown
  try { v = JSON.parse(line) } catch { return undefined }
  for (const step of path.matchAll(/\[(\d+)\]|\["([^"]*)"\]|([^.[\]]+)/g)) {
    if (v === null || typeof v !== 'object') return undefined
    const key = step[1] !== undefined ? Number(step[1]) : step[2] ?? step[3]
    v = (v as Record<string | number, unknown>)[key]
  }
  if (v === undefined) return undefined
  return v !== null && typeof v === 'object' ? JSON.stringify(v) : v === null ? '' : String(v)
}

/** key=value pairs of a logfmt line; a value may be double-quoted, a key without `=` has the empty value. */
export function logfmtLabels (line: string, only: ReadonlySet<string> | null = null): Labels {
  const out: Labels = {}
  const re = /([^\s="]+)(?:=(?:"((?:[^"\\]|\\.)*)"|(\S*)))?/g
  for (const m of line.matchAll(re)) {
    const name = sanitizeKey(m[1])
    if (only !== null && !only.has(name)) continue
    out[name] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3] ?? ''
  }
  return out
}

/**
 * A pattern (`<ip> - <_> [<ts>] "<method> <_>"`) as a RegExp: literals must appear in order from the start of the
 * line, each `<name>` takes what lies between them (`<_>` takes it unnamed), a capture at the end the rest.
 */
export function patternRegExp (pattern: string): { re: RegExp, names: string[] } {
  const names: string[] = []
  let source = '^'
  const parts = pattern.split(/(<[A-Za-z_][A-Za-z0-9_]*>)/)
  for (const [i, part] of parts.entries()) {
    if (i % 2 === 0) {
      source += part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
      continue
    }
    const name = part.slice(1, -1)
    const last = i === parts.length - 2 && parts[i + 1] === ''
    if (name !== '_') {
      if (names.includes(name)) throw new QueryError('bad-input', `pattern: capture <${name}> appears twice`)
      names.push(name)
    }
    source += name === '_' ? (last ? '.*' : '.*?') : (last ? '(.*)' : '(.*?)')
  }
  if (names.length === 0) throw new QueryError('bad-input', 'pattern: at least one named capture such as <ip>')
  return { re: new RegExp(source, 's'), names }
}
