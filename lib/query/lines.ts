// Lines of a source, read in windows of its logical byte space; a line may span entries, batches and rotations.
import { formatCursor, type Cursor, type SourceIndex } from '../store/source'
import { NL } from '../util/bytes'

export interface Line {
  source: string
  cursor: string
  /** When the agent took the write that began this line (ms since epoch). */
  ts: number
  text: string
}

/** A line's logical byte range, its newline included when it has one. */
export interface Span { pos: number, end: number }

/** The most lines one answer carries, and one follow event. */
export const MAX_LINES = 10_000

const WINDOW = 256 * 1024

/** A line from its text (the newline that ends it is dropped) and where it begins. */
export function makeLine (source: string, at: Cursor, ts: number, text: string): Line {
  return { source, cursor: formatCursor(at), ts, text: text.replace(/\n$/, '') }
}

export function lineAt (s: SourceIndex, pos: number, end: number): Line {
  return makeLine(s.source, s.cursorAt(pos), s.timestampAt(pos), s.read(pos, end).toString('utf8'))
}

/** Logical position of the start of the line holding `pos`. */
export function lineStart (s: SourceIndex, pos: number): number {
  let to = pos
  // Most lines are short: the first read is small, and each next one twice as big.
  for (let window = 4096; to > 0; window = Math.min(WINDOW, window * 2)) {
    const from = Math.max(0, to - window)
    const nl = s.read(from, to).lastIndexOf(NL)
    if (nl >= 0) return from + nl + 1
    to = from
  }
  return 0
}

/** Up to `n` whole lines starting at line start `pos`; the last may lack its newline if `partial`. */
export function linesFrom (s: SourceIndex, pos: number, n: number, partial = true): Span[] {
  const out: Span[] = []
  let start = pos
  let scan = pos
  while (out.length < n && scan < s.end) {
    const buf = s.read(scan, Math.min(s.end, scan + WINDOW))
    let at = 0
    for (let nl = buf.indexOf(NL); nl >= 0 && out.length < n; nl = buf.indexOf(NL, at)) {
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
export function linesBefore (s: SourceIndex, pos: number, n: number): Span[] {
  const starts: number[] = []
  let to = pos
  // Each newline found before `pos` (other than the one ending at pos) marks the start of a line after it.
  while (starts.length < n && to > 0) {
    const from = Math.max(0, to - WINDOW)
    const buf = s.read(from, to)
    let at = buf.length - 1
    if (to === pos) at = buf.length - 2
    // (lastIndexOf counts a negative offset from the end, so `at < 0` must not reach it.)
    for (let nl = at >= 0 ? buf.lastIndexOf(NL, at) : -1; nl >= 0 && starts.length < n; nl = buf.lastIndexOf(NL, at)) {
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

export function toLines (s: SourceIndex, spans: Span[]): Line[] {
  return spans.map(sp => lineAt(s, sp.pos, sp.end))
}
