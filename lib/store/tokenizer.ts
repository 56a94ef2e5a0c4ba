// The store's block tokenizer: the byte loop of disk/blocks.ts in C (tokenizer/tokens.c), an addon of its own built by
// bin/logfs-setup. It links no libfuse, so a server loads nothing of the agent's FUSE core.
import path from 'node:path'

export interface Tokenizer {
  /**
   * The distinct hashes, ascending, of the tokens starting in [skip, end) of each piece (start, skip, end, limit)
   * of `data`, running on up to limit; and per piece, 7 numbers: the newlines in [start, end), then lines by the
   * first level word in them (`levelHashes[i]` counted under `levelOf[i]`, 0 to 5). See tokenizer/tokens.h.
   */
  blockTokens (data: Uint8Array, pieces: Int32Array, levelHashes: Uint32Array, levelOf: Uint8Array):
  { hashes: Uint32Array, stats: Uint32Array }
  /** tokens.h's rules, which tokens.ts states for the query side (test/contract.test.ts compares them). */
  readonly constants: { MIN_TOKEN: number, MAX_TOKEN: number, LEVELS: number }
}

/** The tokenizer addon cannot be loaded here: a server without it builds no indexes and reads everything. */
export class TokenizerNotBuilt extends Error {
  constructor (readonly file: string, cause: Error) {
    super(`the logfs tokenizer is not built (${file}: ${cause.message.split('\n')[0]}); run bin/logfs-setup, `
      + 'which needs the apt packages build-essential python3')
    this.name = 'TokenizerNotBuilt'
  }
}

/** Where bin/logfs-setup builds the addon, from dist/lib/store/ (this file, compiled) or lib/store/. */
const ADDON = path.resolve(__dirname, __dirname.includes(`${path.sep}dist${path.sep}`) ? '../../../lib/store' : '.',
  'tokenizer/build/Release/logfs_tokenizer.node')

let loaded: Tokenizer | null = null

/** The tokenizer, loaded on first use; throws TokenizerNotBuilt when it cannot be. */
export function tokenizer (): Tokenizer {
  if (loaded) return loaded
  const addon = { exports: {} }
  try {
    process.dlopen(addon, ADDON)
  } catch (err) {
    throw new TokenizerNotBuilt(ADDON, err as Error)
  }
  loaded = addon.exports as Tokenizer
  return loaded
}
