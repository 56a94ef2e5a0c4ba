// The tokens a grep's every hit must hold, so the store's filters can skip blocks without them. A plain pattern
// is one literal; a regular expression gives the literal runs it requires at its top level (conservatively: an
// alternation there, or a group, class or optional part, contributes nothing). Each literal proves the tokens
// that lie whole inside it (tokens.ts), or that touch an edge known to be a word boundary.
import { provenTokens } from '../store/tokens'

export interface Literal { text: string, leftBound: boolean, rightBound: boolean }

/** The literal runs any match of `pattern` contains, and whether each is bounded by a word boundary. */
export function regexLiterals (pattern: string): Literal[] {
  const out: Literal[] = []
  let run = ''
  let leftBound = false
  const breakRun = (bound: boolean): void => {
    if (run.length > 0) out.push({ text: run, leftBound, rightBound: bound })
    run = ''
    leftBound = bound
  }
  /** A literal character whose atom ends before `next`; returns the last index consumed. */
  const literal = (ch: string, next: number): number => {
    const q = quantifier(pattern, next)
    if (!q) { run += ch; return next - 1 }
    // It may repeat (the run ends after it) or be absent (the run ends before it).
    if (q.min > 0) run += ch
    breakRun(false)
    return next - 1 + q.length
  }
  let depth = 0
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]
    if (c === '\\') {
      const n = pattern[i + 1] ?? ''
      if (/[A-Za-z0-9]/.test(n)) {
        if (depth === 0) breakRun(n === 'b')
        i += escapeLength(pattern, i + 1)
      } else if (depth === 0) {
        i = literal(n, i + 2)
      } else {
        i++
      }
      continue
    }
    if (c === '[') {
      i = classEnd(pattern, i)
      if (depth === 0) breakRun(false)
      continue
    }
    if (c === '(') { if (depth === 0) breakRun(false); depth++; continue }
    if (c === ')') { depth = Math.max(0, depth - 1); continue }
    if (depth > 0) continue
    if (c === '|') return []
    if (c === '^' || c === '$') { breakRun(true); continue }
    // What follows a group, class or `.` (the run already ended there): skip it.
    const q = quantifier(pattern, i)
    if (q) { i += q.length - 1; continue }
    if (c === '.') { breakRun(false); continue }
    i = literal(c, i + 1)
  }
  breakRun(false)
  return out
}

/** The quantifier at `i`, if one is there: the fewest repeats it allows and its length (a lazy `?` included). */
function quantifier (pattern: string, i: number): { min: number, length: number } | null {
  const c = pattern[i]
  let q: { min: number, length: number } | null = null
  if (c === '*' || c === '?') q = { min: 0, length: 1 }
  else if (c === '+') q = { min: 1, length: 1 }
  else if (c === '{') {
    const m = /^\{(\d+)(,\d*)?\}/.exec(pattern.slice(i))
    if (m) q = { min: Number(m[1]), length: m[0].length }
  }
  if (q && pattern[i + q.length] === '?') q.length++
  return q
}

/** Characters of an escape after its backslash (`\d` 1, `\x41` 3, `\u{1F600}` 8, `\k<name>` …). */
function escapeLength (pattern: string, i: number): number {
  const n = pattern[i]
  const braced = (from: number, close: string): number => {
    const at = pattern.indexOf(close, from)
    return at < 0 ? 1 : at - i + 1
  }
  if (n === 'x') return 3
  if (n === 'c') return 2
  if (n === 'u') return pattern[i + 1] === '{' ? braced(i + 1, '}') : 5
  if ((n === 'p' || n === 'P') && pattern[i + 1] === '{') return braced(i + 1, '}')
  if (n === 'k' && pattern[i + 1] === '<') return braced(i + 1, '>')
  let j = i
  if (/[0-9]/.test(n)) while (/[0-9]/.test(pattern[j] ?? '')) j++
  return Math.max(1, j - i)
}

function classEnd (pattern: string, i: number): number {
  let j = i + 1
  if (pattern[j] === '^') j++
  if (pattern[j] === ']') j++
  for (; j < pattern.length; j++) {
    if (pattern[j] === '\\') j++
    else if (pattern[j] === ']') return j
  }
  return pattern.length
}

/** Token hashes a grep's every hit holds; none when the pattern proves none (a scan answers it). */
export function requiredTokens (q: { pattern: string, regex: boolean, word: boolean }): number[] {
  const literals = q.regex ? regexLiterals(q.pattern) : [{ text: q.pattern, leftBound: false, rightBound: false }]
  const out = new Set<number>()
  for (const [i, l] of literals.entries()) {
    // -w bounds the pattern's own edges: the first literal's left one, when it starts the pattern, and so on.
    const left = l.leftBound || (q.word && i === 0 && q.pattern.startsWith(l.text))
    const right = l.rightBound || (q.word && i === literals.length - 1 && q.pattern.endsWith(l.text))
    for (const h of provenTokens(l.text, left, right)) out.add(h)
  }
  return [...out]
}
