// LogQL's units: Go durations (1h30m, 250ms, 1.5s, and Loki's d, w, y) and humanized sizes (10KB, 1.5MiB).
import { QueryError } from '../query/errors'

const DURATION_MS: Record<string, number> = {
  ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000,
  d: 86_400_000, w: 604_800_000, y: 31_536_000_000,
}

/** A Go duration in ms; null when the text is not one. */
export function goDurationMs (text: string): number | null {
  const m = /^([-+]?)((?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|ms|s|m|h|d|w|y))+$/.exec(text.trim())
  if (!m) return text.trim() === '0' ? 0 : null
  let total = 0
  for (const part of text.matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h|d|w|y)/g)) {
    total += Number(part[1]) * DURATION_MS[part[2]]
  }
  return m[1] === '-' ? -total : total
}

export function parseGoDuration (text: string): number {
  const ms = goDurationMs(text)
  if (ms === null) throw new QueryError('bad-input', `'${text}' is not a duration (examples: 250ms, 5m, 1h30m)`)
  return ms
}

const SIZE: Record<string, number> = {
  '': 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, pb: 1e15,
  kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4, pib: 1024 ** 5,
  k: 1e3, m: 1e6, g: 1e9, t: 1e12, ki: 1024, mi: 1024 ** 2, gi: 1024 ** 3, ti: 1024 ** 4,
}

/** A humanized size in bytes; null when the text is not one. */
export function bytesOf (text: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text)
  const unit = m ? SIZE[m[2].toLowerCase()] : undefined
  return m && unit !== undefined ? Number(m[1]) * unit : null
}

export function parseBytes (text: string): number {
  const n = bytesOf(text)
  if (n === null) throw new QueryError('bad-input', `'${text}' is not a size (examples: 512B, 10KB, 1.5MiB)`)
  return n
}
