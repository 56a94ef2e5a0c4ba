// Matching one window of whole lines: a native byte search for plain text, a multiline RegExp for --regex, -i and
// -w. A RegExp that cannot match across lines and requires a literal runs only on the lines holding it, found by
// the native byte search, as GNU grep does. Pure functions of the bytes, so the scan workers (match-worker.ts) run
// them off the server's event loop.
import { NL } from '../util/bytes'
import { QueryError } from './errors'
import { regexLiterals } from './literals'

/** What is searched for, as a query gives it. */
export interface Pattern {
  pattern: string
  regex: boolean
  ignoreCase: boolean
  /** Like grep -w: a match must not touch a word character ([A-Za-z0-9_]) on either side. */
  word: boolean
}

/** A literal, or a RegExp with the literal (if any) that every match holds and that lines are first searched for. */
export type Matcher = Buffer | { re: RegExp, anchor: Buffer | null }

export function compile (q: Pattern): Matcher {
  if (q.pattern.length === 0) throw new QueryError('bad-input', 'the pattern is empty')
  if (!q.regex && !q.ignoreCase && !q.word) return Buffer.from(q.pattern)
  const escaped = q.regex ? q.pattern : q.pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  const source = q.word ? `(?<![A-Za-z0-9_])(?:${escaped})(?![A-Za-z0-9_])` : escaped
  let re: RegExp
  try {
    re = new RegExp(source, 'gm' + (q.ignoreCase ? 'i' : ''))
  } catch (err) {
    throw new QueryError('bad-input', `invalid regular expression: ${(err as Error).message}`)
  }
  return { re, anchor: anchorOf(q) }
}

/**
 * The longest literal every match holds, when a match cannot span lines (nothing in the pattern matches a
 * newline: no \s, \S, \D, \W, negated class, escape by code or property, nor \1 to \9, which can be an octal
 * escape) and its case is fixed.
 */
function anchorOf (q: Pattern): Buffer | null {
  if (q.regex && /\\[sSDWnrfvxuc0-9pP]|\[\^|\n/.test(q.pattern)) return null
  const literals = q.regex ? regexLiterals(q.pattern).map(l => l.text) : [q.pattern]
  const longest = literals.reduce((a, b) => b.length > a.length ? b : a, '')
  if (longest.length < 3 || (q.ignoreCase && longest.toLowerCase() !== longest.toUpperCase())) return null
  return Buffer.from(longest)
}


/** A hit in a window: the line's bytes [lineStart, lineEnd) and the match's characters in the line's text. */
export interface Found { lineStart: number, lineEnd: number, matchStart: number, matchEnd: number }

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

/** The lines holding `anchor` where `re` matches (on the line alone), at most `max`. */
function anchoredHits (buf: Buffer, re: RegExp, anchor: Buffer, max: number): Found[] {
  const out: Found[] = []
  for (let i = buf.indexOf(anchor); i >= 0 && out.length < max;) {
    const lineStart = buf.lastIndexOf(NL, i) + 1
    const nl = buf.indexOf(NL, i)
    const lineEnd = nl < 0 ? buf.length : nl + 1
    re.lastIndex = 0
    const m = re.exec(buf.toString('utf8', lineStart, lineEnd))
    if (m) out.push({ lineStart, lineEnd, matchStart: m.index, matchEnd: m.index + m[0].length })
    if (lineEnd >= buf.length) break
    i = buf.indexOf(anchor, lineEnd)
  }
  return out
}

/** The hits in `buf`, at most `max`. */
export function findHits (buf: Buffer, matcher: Matcher, max: number): Found[] {
  if (Buffer.isBuffer(matcher)) return literalHits(buf, matcher, max)
  return matcher.anchor ? anchoredHits(buf, matcher.re, matcher.anchor, max) : regexHits(buf, matcher.re, max)
}
