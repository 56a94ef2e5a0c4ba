// A segment's blocks: fixed byte ranges of its file, the unit a filter prunes. Block k is file bytes
// [FILE_HEADER + k·BLOCK_BYTES, FILE_HEADER + (k+1)·BLOCK_BYTES), whatever entries lie there, so every block
// holds about as many tokens as the next and the bit-sliced filter wastes no rows on an outsized one (an entry,
// one source's run of a batch, can be 1 MiB). Each block gets its distinct token hashes, and each entry's part of
// it a summary (lines, lines per level, for histograms: ../levels.ts), read from the segment file. This runs in
// the index worker, off the ingest thread; the byte loop is native (../tokenizer.ts).
import fs from 'node:fs'
import { FILE_HEADER } from './segment'
import { MAX_TOKEN, WORD, tokenHash } from '../tokens'
import { tokenizer } from '../tokenizer'
import { LEVEL_HASHES, LEVEL_OF, SUMMARY } from '../levels'
import { readFully } from '../../util/read-fully'

/** Small enough that a false positive costs one short read; the filters' share of the data does not depend on it. */
export const BLOCK_BYTES = 256 * 1024

export const blockStart = (k: number): number => FILE_HEADER + k * BLOCK_BYTES

/** Blocks of a segment of `bytes` bytes. */
export const blocksIn = (bytes: number): number => Math.max(0, Math.ceil((bytes - FILE_HEADER) / BLOCK_BYTES))

/** The block holding file offset `at`. */
export const blockOf = (at: number): number => Math.floor((at - FILE_HEADER) / BLOCK_BYTES)

/** One entry as the index sees it: its source (a number in the segment's source table) and where its data lies. */
export interface EntryRow { source: number, gen: number, offset: number, timestamp: number, at: number, length: number }

/**
 * Where the bytes just before an entry's data lie, when the entry goes on from its source's previous entry (same
 * generation, next offset): a token may begin there.
 */
export interface Before { file: string, at: number, length: number }

export interface BlockSummary {
  /** True when the filter cannot be trusted for this block (a token began where it could not be read): scan it. */
  unfiltered: boolean
}

export interface BuiltBlock extends BlockSummary {
  k: number
  /** Hashes of the tokens that start in the block, distinct, ascending. */
  hashes: Uint32Array
  /** For each entry with data in the block: its number in the segment, then its part's SUMMARY numbers. */
  summaries: Uint32Array
}

/** Where a block's bytes are read: one buffer for every block, as fresh memory for each cost page faults. */
const scratch = Buffer.allocUnsafeSlow(1 + BLOCK_BYTES + MAX_TOKEN)

/**
 * Builds block k from the segment open as `fd`. `rows` are the entries with data in it, in file order, the first
 * being entry number `first` of the segment; `befores[i]` is where the bytes before rows[i] lie, or null when
 * rows[i] does not go on from an earlier entry.
 *
 * A token belongs to the block its first byte is in, so a query's candidate block holds the start of every line
 * with the token. One exception: a token cut across two entries of a source (two batches) belongs, joined, to the
 * block where the second entry starts, which holds part of the line all the same.
 */
export function buildBlock (fd: number, k: number, first: number, rows: EntryRow[],
  befores: Array<Before | null>): BuiltBlock {
  const bs = blockStart(k)
  const be = bs + BLOCK_BYTES
  const last = rows[rows.length - 1]
  // One byte before, to know whether the block starts inside a token; MAX_TOKEN after, to hash one that ends later.
  const from = Math.max(rows[0].at, bs - 1)
  const data = scratch.subarray(0, Math.min(last.at + last.length, be + MAX_TOKEN) - from)
  readFully(fd, data, from)
  const joined: number[] = []
  let unfiltered = false
  const pieces = new Int32Array(4 * rows.length)
  for (const [i, r] of rows.entries()) {
    // This entry's data in the buffer: [a, b) is its part in the block, [a, limit) what its tokens may use.
    const a = Math.max(r.at, bs) - from
    const b = Math.min(r.at + r.length, be) - from
    const limit = Math.min(r.at + r.length - from, data.length)
    let skip = a
    const before = r.at >= bs ? befores[i] : null
    if (WORD[data[a]] === 1 && (before !== null || (r.at < bs && WORD[data[a - 1]] === 1))) {
      if (before !== null) {
        const token = leadingToken(data, a, limit, before)
        if (token === null) unfiltered = true
        else joined.push(tokenHash(token, 0, token.length))
      }
      // A token that began before the block, or in the entry before, is not this block's.
      while (skip < b && WORD[data[skip]] === 1) skip++
    }
    pieces.set([a, skip, b, limit], 4 * i)
  }
  const { hashes, stats } = tokenizer().blockTokens(data, pieces, LEVEL_HASHES, LEVEL_OF)
  const summaries = new Uint32Array(rows.length * (1 + SUMMARY))
  for (let i = 0; i < rows.length; i++) {
    summaries[i * (1 + SUMMARY)] = first + i
    summaries.set(stats.subarray(i * SUMMARY, (i + 1) * SUMMARY), i * (1 + SUMMARY) + 1)
  }
  return {
    k,
    unfiltered,
    hashes: joined.length === 0 ? hashes : Uint32Array.from(new Set([...hashes, ...joined])).sort(),
    summaries,
  }
}

/**
 * The token that starts in the bytes before an entry and goes on at data[from]: the earlier bytes' trailing word
 * characters joined to the entry's leading ones. Null when its start cannot be read: the earlier bytes are gone,
 * or all of the (at most MAX_TOKEN) read are word characters, so the token began further back.
 */
function leadingToken (data: Buffer, from: number, to: number, before: Before): Buffer | null {
  const n = Math.min(MAX_TOKEN, before.length)
  const back = Buffer.allocUnsafe(n)
  try {
    const fd = fs.openSync(before.file, 'r')
    try { readFully(fd, back, before.at + before.length - n) } finally { fs.closeSync(fd) }
  } catch {
    return null
  }
  let s = n
  while (s > 0 && WORD[back[s - 1]] === 1) s--
  if (s === 0) return null
  let e = from
  while (e < to && WORD[data[e]] === 1) e++
  return Buffer.concat([back.subarray(s), data.subarray(from, e)])
}
