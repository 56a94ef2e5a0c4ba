// What the store's grep filters index: tokens, runs of [A-Za-z0-9_] (grep -w's word characters) of MIN_TOKEN
// bytes or more, ASCII-lowercased so one filter serves case-sensitive and -i searches, hashed to 32 bits. A token
// longer than MAX_TOKEN is indexed by its first MAX_TOKEN bytes, and a query token is cut the same way.
// Shorter runs are in nearly every block and would prune nothing.

export const MIN_TOKEN = 3
export const MAX_TOKEN = 64

/** 1 for the bytes tokens are made of. */
export const WORD = new Uint8Array(256)
for (const [from, to] of [[48, 57], [65, 90], [97, 122], [95, 95]]) for (let c = from; c <= to; c++) WORD[c] = 1

/**
 * FNV-1a over the ASCII-lowercased bytes [start, end), at most MAX_TOKEN of them. `| 0x20` lowercases A–Z and
 * leaves digits alone; `_` becomes 0x7f, a byte no token holds, so it stays distinct.
 */
export function tokenHash (buf: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5
  const stop = Math.min(end, start + MAX_TOKEN)
  for (let i = start; i < stop; i++) h = Math.imul(h ^ (buf[i] | 0x20), 0x01000193)
  return h >>> 0
}

/** Calls `each(start, end, hash)` for every token in buf[from, to), hashing as it goes (as tokenHash does). */
export function forEachToken (buf: Uint8Array, from: number, to: number,
  each: (start: number, end: number, hash: number) => void): void {
  for (let i = from; i < to;) {
    while (i < to && WORD[buf[i]] === 0) i++
    const s = i
    const stop = Math.min(to, s + MAX_TOKEN)
    let h = 0x811c9dc5
    for (; i < stop && WORD[buf[i]] === 1; i++) h = Math.imul(h ^ (buf[i] | 0x20), 0x01000193)
    while (i < to && WORD[buf[i]] === 1) i++
    if (i - s >= MIN_TOKEN) each(s, i, h >>> 0)
  }
}

/**
 * Hashes of the tokens a piece of text must hold whole if it contains `literal`: the runs of word characters
 * with a non-word character of the literal on both sides (`trace_id":"4bf9…"` proves `4bf9…`, but `4bf9` alone
 * may sit inside a longer token, so it proves nothing), or at an edge known to be a word boundary (grep -w, `\b`,
 * a line's start or end). A literal that proves no token gives none: only a scan can answer it.
 */
export function provenTokens (literal: string, leftBound = false, rightBound = false): number[] {
  const buf = Buffer.from(literal, 'utf8')
  const out: number[] = []
  forEachToken(buf, 0, buf.length, (s, e, h) => {
    if ((s > 0 || leftBound) && (e < buf.length || rightBound)) out.push(h)
  })
  return out
}
