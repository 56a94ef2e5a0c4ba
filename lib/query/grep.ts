// Search: narrow by source glob and by time (entry timestamps → positions, a binary search per source), then by
// the store's token filters (the blocks that may hold every token the pattern proves), and scan only those byte
// ranges, widened to whole lines: a native byte search for plain text, a multiline RegExp for --regex, -i and -w.
import type { Store } from '../store/store'
import type { SourceIndex } from '../store/source'
import type { Piece } from '../store/segment-index'
import { NL } from '../util/bytes'
import { QueryError } from './errors'
import { lineStart, linesFrom, makeLine, type Line } from './lines'
import { requiredTokens } from './literals'
import { scanLines } from './scan'

export interface GrepQuery {
  pattern: string
  regex: boolean
  ignoreCase: boolean
  /** Like grep -w: a match must not touch a word character ([A-Za-z0-9_]) on either side. */
  word: boolean
  since?: number
  until?: number
  limit: number
}

export interface Hit extends Line {
  /** Character offsets of the first match in `text`. */
  match: [number, number]
}

export interface GrepResult {
  hits: Hit[]
  /** Bytes read and matched: what the filters left of the range asked for. */
  scannedBytes: number
  truncated: boolean
  /** Whether the filters could prune: false when the pattern proves no token (tokens.ts), so all was scanned. */
  indexed: boolean
}

const HITS_PER_TURN = 500

export function compile (q: GrepQuery): RegExp | Buffer {
  if (q.pattern.length === 0) throw new QueryError('bad-input', 'the pattern is empty')
  if (!q.regex && !q.ignoreCase && !q.word) return Buffer.from(q.pattern)
  const escaped = q.regex ? q.pattern : q.pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  const source = q.word ? `(?<![A-Za-z0-9_])(?:${escaped})(?![A-Za-z0-9_])` : escaped
  try {
    return new RegExp(source, 'gm' + (q.ignoreCase ? 'i' : ''))
  } catch (err) {
    throw new QueryError('bad-input', `invalid regular expression: ${(err as Error).message}`)
  }
}

/** Hits in source order, then cursor order; the scan stops once `limit` hits are found. */
export async function grep (store: Store, sources: SourceIndex[], q: GrepQuery): Promise<GrepResult> {
  const matcher = compile(q)
  const hashes = requiredTokens(q)
  const picked = new Set(sources)
  const plan = hashes.length > 0 ? store.candidates(hashes, s => picked.has(s)) : null
  const hits: Hit[] = []
  let scannedBytes = 0
  const indexed = plan !== null
  for (const s of sources) {
    const from = q.since !== undefined ? s.positionAtTime(q.since) : 0
    const to = q.until !== undefined ? s.positionAtTime(q.until + 1) : s.end
    const ranges = plan ? lineRanges(s, plan.get(s) ?? [], from, to) : [[from, to]]
    for (const [a, b] of ranges) {
      for await (const window of scanLines(s, a, b)) {
        const buf = window.data
        scannedBytes += buf.length
        const max = q.limit - hits.length
        const found = matcher instanceof RegExp ? regexHits(buf, matcher, max) : literalHits(buf, matcher, max)
        for (const [i, f] of found.entries()) {
          // A window can hold thousands of hits: building them is the costliest part of a busy grep, so ingest
          // gets the event loop between every HITS_PER_TURN of them (bench:stall, the 10,000-hit row).
          if (i > 0 && i % HITS_PER_TURN === 0) await new Promise(resolve => setImmediate(resolve))
          const line = makeLine(s.source, window.cursorAt(f.lineStart), window.timestampAt(f.lineStart),
            buf.subarray(f.lineStart, f.lineEnd))
          hits.push({ ...line, match: [f.matchStart, f.matchEnd] })
        }
        if (hits.length >= q.limit) return { hits, scannedBytes, truncated: true, indexed }
      }
    }
  }
  return { hits, scannedBytes, truncated: false, indexed }
}

/**
 * The logical ranges of `s` that hold the candidate pieces, within [from, to), widened to whole lines (a line may
 * start or end in a neighbouring extent) and merged, in order.
 */
function lineRanges (s: SourceIndex, pieces: Piece[], from: number, to: number): Array<[number, number]> {
  const raw: Array<[number, number]> = []
  for (const p of pieces) {
    const pos = s.logicalOf(p.e)
    if (pos === null) continue
    const a = Math.max(from, pos + p.from)
    const b = Math.min(to, pos + p.to)
    if (a < b) raw.push([a, b])
  }
  const widened = merge(raw).map(([a, b]): [number, number] => {
    const start = lineStart(s, a)
    const last = linesFrom(s, lineStart(s, b - 1), 1)[0]
    return [Math.max(from, start), Math.min(to, last ? last.end : b)]
  })
  return merge(widened)
}

/** Sorts ranges and joins those that overlap or touch. */
function merge (ranges: Array<[number, number]>): Array<[number, number]> {
  ranges.sort((x, y) => x[0] - y[0])
  const out: Array<[number, number]> = []
  for (const r of ranges) {
    const last = out[out.length - 1]
    if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1])
    else out.push([r[0], r[1]])
  }
  return out
}

interface Found { lineStart: number, lineEnd: number, matchStart: number, matchEnd: number }

/** The lines holding `needle`, at most `max`: a window holds thousands of lines, hits past the limit are unwanted. */
function literalHits (buf: Buffer, needle: Buffer, max: number): Found[] {
  const out: Found[] = []
  const matchLength = needle.toString('utf8').length
  for (let i = buf.indexOf(needle); i >= 0 && out.length < max;) {
    const lineStart = buf.lastIndexOf(NL, i) + 1
    const nl = buf.indexOf(NL, i)
    const lineEnd = nl < 0 ? buf.length : nl + 1
    const matchStart = buf.toString('utf8', lineStart, i).length
    out.push({ lineStart, lineEnd, matchStart, matchEnd: matchStart + matchLength })
    if (lineEnd >= buf.length) break
    i = buf.indexOf(needle, lineEnd)
  }
  return out
}

/** The lines where `re` matches (a match may go on into later lines), at most `max`. */
function regexHits (buf: Buffer, re: RegExp, max: number): Found[] {
  const out: Found[] = []
  const text = buf.toString('utf8')
  // Byte positions are found incrementally from character positions, so decoding stays linear.
  let charAt = 0
  let byteAt = 0
  re.lastIndex = 0
  for (let m = re.exec(text); m !== null && out.length < max; m = re.exec(text)) {
    const lineStartChar = text.lastIndexOf('\n', m.index - 1) + 1
    const nl = text.indexOf('\n', m.index + Math.max(0, m[0].length - 1))
    const lineEndChar = nl < 0 ? text.length : nl + 1
    byteAt += Buffer.byteLength(text.slice(charAt, lineStartChar))
    const lineStart = byteAt
    const lineEnd = lineStart + Buffer.byteLength(text.slice(lineStartChar, lineEndChar))
    charAt = lineStartChar
    const matchStart = m.index - lineStartChar
    out.push({ lineStart, lineEnd, matchStart, matchEnd: matchStart + m[0].length })
    if (lineEndChar >= text.length) break
    re.lastIndex = lineEndChar
  }
  return out
}
