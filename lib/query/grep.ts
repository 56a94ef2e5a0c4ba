// Search: narrow by source glob and by time (entry timestamps → positions, a binary search per source), then
// scan only that byte range: a native byte search for plain text, a multiline RegExp for --regex and -i.
import type { SourceIndex } from '../store/source'
import { lineAt, type Line } from './lines'

export interface GrepQuery {
  pattern: string
  regex: boolean
  ignoreCase: boolean
  since?: number
  until?: number
  limit: number
}

export interface Hit extends Line {
  /** Character offsets of the first match in `text`. */
  match: [number, number]
}

export interface GrepResult { hits: Hit[], scannedBytes: number, truncated: boolean }

const WINDOW = 4 * 1024 * 1024

export class QueryError extends Error {
  constructor (readonly status: number, message: string) { super(message) }
}

export function compile (q: GrepQuery): RegExp | Buffer {
  if (q.pattern.length === 0) throw new QueryError(400, 'the pattern is empty')
  if (!q.regex && !q.ignoreCase) return Buffer.from(q.pattern)
  const source = q.regex ? q.pattern : q.pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  try {
    return new RegExp(source, 'gm' + (q.ignoreCase ? 'i' : ''))
  } catch (err) {
    throw new QueryError(400, `invalid regular expression: ${(err as Error).message}`)
  }
}

export function grep (sources: SourceIndex[], q: GrepQuery): GrepResult {
  const matcher = compile(q)
  const hits: Hit[] = []
  let scannedBytes = 0
  for (const s of sources) {
    let pos = q.since !== undefined ? s.positionAtTime(q.since) : 0
    const to = q.until !== undefined ? s.positionAtTime(q.until + 1) : s.end
    // A range that starts inside a line starts at the next whole line.
    if (pos > 0 && pos < to && s.read(pos - 1, pos)[0] !== 10) {
      const nl = s.read(pos, Math.min(to, pos + WINDOW)).indexOf(10)
      pos = nl < 0 ? to : pos + nl + 1
    }
    while (pos < to && hits.length < q.limit) {
      const buf = s.read(pos, Math.min(to, pos + WINDOW))
      let complete = pos + buf.length === to ? buf.length : buf.lastIndexOf(10) + 1
      if (complete === 0) complete = buf.length
      scannedBytes += complete
      const found = matcher instanceof RegExp ? regexHits(buf, complete, matcher) : literalHits(buf, complete, matcher)
      for (const f of found) {
        if (hits.length >= q.limit) break
        const line = lineAt(s, pos + f.lineStart, pos + f.lineEnd)
        hits.push({ ...line, match: [f.matchStart, f.matchEnd] })
      }
      pos += complete
    }
    if (hits.length >= q.limit) return { hits, scannedBytes, truncated: true }
  }
  return { hits, scannedBytes, truncated: false }
}

interface Found { lineStart: number, lineEnd: number, matchStart: number, matchEnd: number }

function literalHits (buf: Buffer, complete: number, needle: Buffer): Found[] {
  const out: Found[] = []
  for (let i = buf.indexOf(needle); i >= 0 && i + needle.length <= complete;) {
    const lineStart = buf.lastIndexOf(10, i) + 1
    const nl = buf.indexOf(10, i)
    const lineEnd = nl < 0 || nl >= complete ? complete : nl + 1
    const matchStart = buf.toString('utf8', lineStart, i).length
    out.push({ lineStart, lineEnd, matchStart, matchEnd: matchStart + needle.toString('utf8').length })
    if (lineEnd >= complete) break
    i = buf.indexOf(needle, lineEnd)
  }
  return out
}

function regexHits (buf: Buffer, complete: number, re: RegExp): Found[] {
  const out: Found[] = []
  const text = buf.toString('utf8', 0, complete)
  // Byte positions are found incrementally from character positions, so decoding stays linear.
  let charAt = 0
  let byteAt = 0
  re.lastIndex = 0
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const lineStartChar = text.lastIndexOf('\n', m.index - 1) + 1
    const nl = text.indexOf('\n', m.index + Math.max(0, m[0].length - 1))
    const lineEndChar = nl < 0 ? text.length : nl + 1
    byteAt += Buffer.byteLength(text.slice(charAt, lineStartChar))
    const lineStart = byteAt
    const lineEnd = lineStart + Buffer.byteLength(text.slice(lineStartChar, lineEndChar))
    charAt = lineStartChar
    out.push({ lineStart, lineEnd, matchStart: m.index - lineStartChar, matchEnd: m.index - lineStartChar + m[0].length })
    if (lineEndChar >= text.length) break
    re.lastIndex = lineEndChar
  }
  return out
}
