// The json parser's fast path for the lines most services write: one flat object whose keys are plain names
// ([A-Za-z_][A-Za-z0-9_]*) and whose values are ASCII strings without escapes, numbers, booleans or null. For such
// a line it gives exactly what JSON.parse and the flattening walk give the named fields: plain keys sanitize to
// themselves, so two keys only share a label when they are the same key, and the last one wins in both. Anything
// else (nesting, escapes, other bytes, a syntax error) is left to the full parser, which decides.

const QUOTE = 34
const COLON = 58
const COMMA = 44
const OPEN = 123
const CLOSE = 125

/** ASCII classes: 1 a name's first character ([A-Za-z_]), 2 a digit; a name's other characters are either. */
const CLASS = new Uint8Array(128)
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c)
  CLASS[c] = /[A-Za-z_]/.test(ch) ? 1 : /[0-9]/.test(ch) ? 2 : 0
}
const isNameStart = (c: number): boolean => CLASS[c] === 1
const isNameChar = (c: number): boolean => CLASS[c] > 0
const isDigit = (c: number): boolean => c >= 48 && c <= 57
const isSpace = (c: number): boolean => c === 32 || c === 9 || c === 10 || c === 13

/** A JSON number's end from `i`, or -1 when none starts there (JSON's grammar, not JavaScript's). */
function numberEnd (s: string, i: number): number {
  if (s.charCodeAt(i) === 45) i++
  if (s.charCodeAt(i) === 48) {
    i++
  } else if (isDigit(s.charCodeAt(i))) {
    while (isDigit(s.charCodeAt(i))) i++
  } else {
    return -1
  }
  if (s.charCodeAt(i) === 46) {
    if (!isDigit(s.charCodeAt(++i))) return -1
    while (isDigit(s.charCodeAt(i))) i++
  }
  const e = s.charCodeAt(i)
  if (e === 101 || e === 69) {
    const sign = s.charCodeAt(++i)
    if (sign === 43 || sign === 45) i++
    if (!isDigit(s.charCodeAt(i))) return -1
    while (isDigit(s.charCodeAt(i))) i++
  }
  return i
}

/** Characters this path leaves to the full parser: escapes, control characters and anything outside ASCII. */
const UNUSUAL = /[\\\u0000-\u001f\u007f-\uffff]/

/** The same, but for the newlines between lines: for a window of lines known to be ASCII. */
export const UNUSUAL_IN_LINES = /[\\\u0000-\u0009\u000b-\u001f\u007f]/

/** Each set of names as an array, made once per query rather than once per line. */
const listed = new WeakMap<ReadonlySet<string>, string[]>()

/**
 * The fields of `only` in a flat JSON object line, as jsonLabels gives them; undefined when the line is not of the
 * simple kind this reads (the caller then parses it fully). `plain`: the caller knows the line has no UNUSUAL
 * character (it checked the whole window at once).
 */
export function flatJsonLabels (s: string, only: ReadonlySet<string>, plain = false):
  Record<string, string> | undefined {
  if (!plain && UNUSUAL.test(s)) return undefined
  let names = listed.get(only)
  if (names === undefined) listed.set(only, names = [...only])
  const out: Record<string, string> = {}
  let i = 0
  while (isSpace(s.charCodeAt(i))) i++
  if (s.charCodeAt(i++) !== OPEN) return undefined
  while (isSpace(s.charCodeAt(i))) i++
  if (s.charCodeAt(i) === CLOSE) return trailing(s, i + 1) ? out : undefined
  for (;;) {
    if (s.charCodeAt(i++) !== QUOTE || !isNameStart(s.charCodeAt(i))) return undefined
    const k0 = i
    while (isNameChar(s.charCodeAt(i))) i++
    if (s.charCodeAt(i) !== QUOTE) return undefined
    let name: string | null = null
    for (const n of names) if (n.length === i - k0 && s.startsWith(n, k0)) name = n
    i++
    while (isSpace(s.charCodeAt(i))) i++
    if (s.charCodeAt(i++) !== COLON) return undefined
    while (isSpace(s.charCodeAt(i))) i++
    const c = s.charCodeAt(i)
    let value: string
    if (c === QUOTE) {
      const end = s.indexOf('"', i + 1)
      if (end < 0) return undefined
      value = name === null ? '' : s.slice(i + 1, end)
      i = end + 1
    } else if (c === 116 && s.startsWith('true', i)) {
      value = 'true'
      i += 4
    } else if (c === 102 && s.startsWith('false', i)) {
      value = 'false'
      i += 5
    } else if (c === 110 && s.startsWith('null', i)) {
      value = ''
      i += 4
    } else {
      const end = numberEnd(s, i)
      if (end < 0) return undefined
      value = name === null ? '' : String(Number(s.slice(i, end)))
      i = end
    }
    if (name !== null) out[name] = value
    while (isSpace(s.charCodeAt(i))) i++
    const next = s.charCodeAt(i++)
    if (next === CLOSE) return trailing(s, i) ? out : undefined
    if (next !== COMMA) return undefined
    while (isSpace(s.charCodeAt(i))) i++
  }
}

/** Whether only whitespace follows. */
function trailing (s: string, i: number): boolean {
  while (isSpace(s.charCodeAt(i))) i++
  return i === s.length
}
