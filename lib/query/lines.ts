// Lines of a source, read in windows of its logical byte space; a line may span entries, batches and rotations.
import type { SourceIndex } from '../store/source'
import { formatCursor } from '../store/source'

export interface Line {
  source: string
  cursor: string
  /** When the agent took the write that began this line (ms since epoch). */
  ts: number
  text: string
}

const WINDOW = 256 * 1024

export function lineAt (s: SourceIndex, pos: number, end: number): Line {
  const text = s.read(pos, end).toString('utf8').replace(/\n$/, '')
  return { source: s.source, cursor: formatCursor(s.cursorAt(pos)), ts: s.timestampAt(pos), text }
}

/** Logical position of the start of the line holding `pos`. */
export function lineStart (s: SourceIndex, pos: number): number {
  let to = pos
  while (to > 0) {
    const from = Math.max(0, to - WINDOW)
    const nl = s.read(from, to).lastIndexOf(10)
    if (nl >= 0) return from + nl + 1
    to = from
  }
  return 0
}

/** Up to `n` whole lines starting at line start `pos`; the last may lack its newline if `partial`. */
export function linesFrom (s: SourceIndex, pos: number, n: number, partial = true): Array<{ pos: number, end: number }> {
  const out: Array<{ pos: number, end: number }> = []
  let start = pos
  let scan = pos
  while (out.length < n && scan < s.end) {
    const buf = s.read(scan, Math.min(s.end, scan + WINDOW))
    let at = 0
    for (let nl = buf.indexOf(10); nl >= 0 && out.length < n; nl = buf.indexOf(10, at)) {
      out.push({ pos: start, end: scan + nl + 1 })
      start = scan + nl + 1
      at = nl + 1
    }
    scan += buf.length
  }
  if (partial && out.length < n && start < s.end) out.push({ pos: start, end: s.end })
  return out
}

/** Up to `n` whole lines ending just before line start `pos`, oldest first. */
export function linesBefore (s: SourceIndex, pos: number, n: number): Array<{ pos: number, end: number }> {
  const starts: number[] = []
  let to = pos
  // Each newline found before `pos` (other than the one ending at pos) marks the start of a line after it.
  while (starts.length < n && to > 0) {
    const from = Math.max(0, to - WINDOW)
    const buf = s.read(from, to)
    let at = buf.length - 1
    if (to === pos) at = buf.length - 2
    // (lastIndexOf counts a negative offset from the end, so `at < 0` must not reach it.)
    for (let nl = at >= 0 ? buf.lastIndexOf(10, at) : -1; nl >= 0 && starts.length < n; nl = buf.lastIndexOf(10, at)) {
      starts.push(from + nl + 1)
      at = nl - 1
      if (at < 0) break
    }
    to = from
  }
  // Fewer than n newlines back to the start: the source's first line is one of them.
  if (starts.length < n && pos > 0) starts.push(0)
  const ordered = starts.filter(p => p < pos).reverse()
  return ordered.map((p, i) => ({ pos: p, end: i + 1 < ordered.length ? ordered[i + 1] : pos }))
}

export function toLines (s: SourceIndex, spans: Array<{ pos: number, end: number }>): Line[] {
  return spans.map(sp => lineAt(s, sp.pos, sp.end))
}
