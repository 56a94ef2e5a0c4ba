// Parsing of human-friendly sizes, durations and times for CLI flags, and their display. Errors name the flag so
// the user knows what to fix.

const SIZE_UNITS: Record<string, number> = {
  '': 1, b: 1,
  k: 1e3, kb: 1e3, ki: 1024, kib: 1024,
  m: 1e6, mb: 1e6, mi: 1024 ** 2, mib: 1024 ** 2,
  g: 1e9, gb: 1e9, gi: 1024 ** 3, gib: 1024 ** 3,
  t: 1e12, tb: 1e12, ti: 1024 ** 4, tib: 1024 ** 4,
}

const DURATION_UNITS: Record<string, number> = {
  ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000,
}

export class InputError extends Error {
  override name = 'InputError'
}

export function parseSize (text: string, what = 'size'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text)
  const unit = m ? SIZE_UNITS[m[2].toLowerCase()] : undefined
  if (!m || unit === undefined) {
    throw new InputError(`${what}: '${text}' is not a size (examples: 4096, 64KiB, 256MiB, 10GB)`)
  }
  return Math.floor(Number(m[1]) * unit)
}

export function parseDuration (text: string, what = 'duration'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$/.exec(text)
  if (!m) throw new InputError(`${what}: '${text}' is not a duration (examples: 500ms, 30s, 5m, 7d)`)
  return Math.floor(Number(m[1]) * DURATION_UNITS[m[2] ?? 's'])
}

export function formatBytes (n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++ }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`
}

/** A duration as the flags write it, in its largest whole unit: 7d, 36h, 90s, 250ms. */
export function formatDuration (ms: number): string {
  // Days rather than weeks: retention is most often said in days.
  for (const unit of ['d', 'h', 'm', 's']) {
    const n = DURATION_UNITS[unit]
    if (ms >= n && ms % n === 0) return `${ms / n}${unit}`
  }
  return `${ms}ms`
}

/** A point in time: an ISO 8601 date, milliseconds since the epoch, or a duration ago (`15m`, `1h`, `2d`). */
export function parseTime (text: string, what = 'time', now = Date.now()): number {
  if (/^\d{12,}$/.test(text)) return Number(text)
  if (/^\d+(\.\d+)?\s*(ms|s|m|h|d|w)$/.test(text)) return now - parseDuration(text, what)
  const t = Date.parse(text)
  if (Number.isNaN(t)) {
    throw new InputError(`${what}: '${text}' is not a time (examples: 15m, 2h, 2026-11-23T10:00:00Z)`)
  }
  return t
}

/**
 * ISO 8601 for a time in ms, or the raw number when no date has it: a store written before times were checked at
 * ingest may hold any f64, and one such record must not break every listing (toISOString throws on it).
 */
export function formatTime (ms: number): string {
  const d = new Date(ms)
  return Number.isNaN(d.getTime()) ? `(time ${ms})` : d.toISOString()
}

/** A name for a terminal: control characters (a newline in a file name) as escapes, so one entry stays one line. */
export function printable (name: string): string {
  return name.replace(/[\x00-\x1f\x7f]/g, c => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)
}
