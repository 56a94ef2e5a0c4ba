// The end of a source: its last lines, and for a follower, the whole lines stored since it last looked. A
// follower keeps a cursor, not a logical position: retention shifts positions, and a new agent generation starts
// after the cursor.
import type { Cursor, SourceIndex } from '../store/source'
import { NL } from '../util/bytes'
import { MAX_LINES, lineStart, linesBefore, linesFrom, toLines, type Line, type Span } from './lines'

/** The last `n` lines, the one still being written (no newline yet) included. */
export function lastLines (s: SourceIndex, n: number): Line[] {
  if (n === 0) return []
  const end = s.end
  const lastStart = lineStart(s, end > 0 && s.read(end - 1, end)[0] === NL ? end - 1 : end)
  const spans = lastStart < end
    ? [...linesBefore(s, lastStart, n - 1), { pos: lastStart, end }]
    : linesBefore(s, lastStart, n)
  return toLines(s, spans.slice(-n))
}

/** Where following starts: the last `n` whole lines, and the cursor of the first line not sent with them. */
export function followFrom (s: SourceIndex, n: number): { lines: Line[], next: Cursor } {
  const start = lineStart(s, s.end)
  return { lines: toLines(s, linesBefore(s, start, n)), next: s.cursorAt(start) }
}

/**
 * The whole lines from cursor `from` on (from the source's start when null), at most MAX_LINES, and the cursor
 * after them; null when no line has been completed since.
 */
export function wholeLinesFrom (s: SourceIndex, from: Cursor | null): { spans: Span[], next: Cursor } | null {
  const spans = linesFrom(s, from === null ? 0 : s.positionAtOrAfter(from), MAX_LINES, false)
  if (spans.length === 0) return null
  return { spans, next: s.cursorAt(spans[spans.length - 1].end) }
}
