// A line found by its cursor, with the lines around it. It seeks by cursor and reads windows backwards and forwards
// from there, so its cost does not depend on the size of the source.
import type { Cursor, SourceIndex } from '../store/source'
import { lineAt, lineStart, linesBefore, linesFrom, toLines, type Line } from './lines'

export interface Context { source: string, before: Line[], hit: Line | null, after: Line[] }

/**
 * The line holding cursor `at`, up to `before` lines before it and `after` after it; null when no retained byte has
 * that cursor.
 */
export function context (s: SourceIndex, at: Cursor, before: number, after: number): Context | null {
  const pos = s.logicalOf(at)
  if (pos === null) return null
  const start = lineStart(s, pos)
  const [hit, ...rest] = linesFrom(s, start, after + 1)
  return {
    source: s.source,
    before: toLines(s, linesBefore(s, start, before)),
    hit: hit ? lineAt(s, hit.pos, hit.end) : null,
    after: toLines(s, rest),
  }
}
