// Lines and lines per level, the numbers an index keeps per entry (the disk store's sidecars) for histograms:
// SUMMARY numbers, the newlines, then lines by the first level word they hold, in LEVELS order. Counted by the
// native tokenizer's byte loop, so every count follows one rule.
import { tokenHash } from './tokens'
import { tokenizer, TokenizerNotBuilt } from './tokenizer'

export const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const
export type Level = typeof LEVELS[number]

/** Per entry: newlines, then lines by the first level word they hold, in LEVELS order. */
export const SUMMARY = 1 + LEVELS.length

/** The level words' hashes and the level each counts under, as the native tokenizer takes them. */
const LEVEL_WORDS: Array<[string, number]> = [...LEVELS.map((l, i): [string, number] => [l, i]), ['warning', 2]]
export const LEVEL_HASHES = Uint32Array.from(LEVEL_WORDS, ([w]) => tokenHash(Buffer.from(w), 0, w.length))
export const LEVEL_OF = Uint8Array.from(LEVEL_WORDS, ([, i]) => i)

/** The SUMMARY numbers of `data`, counted now; null when the tokenizer is not built here. */
export function countLines (data: Uint8Array): Uint32Array | null {
  try {
    const pieces = Int32Array.of(0, 0, data.length, data.length)
    return tokenizer().blockTokens(data, pieces, LEVEL_HASHES, LEVEL_OF).stats
  } catch (err) {
    if (err instanceof TokenizerNotBuilt) return null
    throw err
  }
}
