// The literals of a LogQL query: Go strings, and Go (RE2) regular expressions as JavaScript RegExps.

const ESCAPES: Record<string, string> = {
  n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\', a: '\x07', b: '\b', f: '\f', v: '\v',
}

/** A double-quoted Go string's value; null when an escape is not one Go knows. */
export function unquote (s: string): string | null {
  let bad = false
  const out = s.slice(1, -1).replace(/\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|.)/gs, (_, e: string) => {
    if (e.length > 1) return String.fromCodePoint(/^[0-7]/.test(e) ? parseInt(e, 8) : parseInt(e.slice(1), 16))
    if (ESCAPES[e] === undefined) bad = true
    return ESCAPES[e] ?? ''
  })
  return bad ? null : out
}

/** A Go RE2 pattern as a JavaScript RegExp: Go writes named groups (?P<name>...). Throws when it is not one. */
export function toRegExp (pattern: string): RegExp {
  return new RegExp(pattern.replace(/\(\?P</g, '(?<'))
}
