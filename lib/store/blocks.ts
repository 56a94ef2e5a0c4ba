// A segment's blocks: fixed byte ranges of its file, the unit a filter prunes. Block k is file bytes
// [FILE_HEADER + k·BLOCK_BYTES, FILE_HEADER + (k+1)·BLOCK_BYTES), whatever entries lie there, so every block
// holds about as many tokens as the next and the bit-sliced filter wastes no rows on an outsized one (an entry,
// one source's run of a batch, can be 1 MiB). Each block gets its distinct token hashes and a summary (time
// range, lines, lines per level), read from the segment file. This runs in the index worker, off the ingest
// thread.
import fs from 'node:fs'
import { FILE_HEADER } from './segment'
import { MAX_TOKEN, WORD, forEachToken, tokenHash } from './tokens'
import { NL } from '../util/bytes'

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

/** Lines counted per level, in this order; the first level word of a line decides. */
export const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const

export interface BlockSummary {
  /** True when the filter cannot be trusted for this block (a token began where it could not be read): scan it. */
  unfiltered: boolean
  /** Time range of the entries with data in the block. */
  minTs: number
  maxTs: number
  /** Newlines in the block's data. */
  lines: number
  /** Lines by the first level word they hold, in LEVELS order. */
  levels: number[]
}

export interface BuiltBlock extends BlockSummary {
  k: number
  /** Hashes of the tokens that start in the block, distinct, ascending. */
  hashes: Uint32Array
}

const LEVEL_HASH = new Map<number, number>(LEVELS.map((l, i) => [tokenHash(Buffer.from(l), 0, l.length), i]))
LEVEL_HASH.set(tokenHash(Buffer.from('warning'), 0, 7), LEVELS.indexOf('warn'))

/**
 * Builds block k from the segment open as `fd`. `rows` are the entries with data in it, in file order; `befores[i]`
 * is where the bytes before rows[i] lie, or null when rows[i] does not go on from an earlier entry.
 *
 * A token belongs to the block its first byte is in, so a query's candidate block holds the start of every line
 * with the token. One exception: a token cut across two entries of a source (two batches) belongs, joined, to the
 * block where the second entry starts, which holds part of the line all the same.
 */
export function buildBlock (fd: number, k: number, rows: EntryRow[], befores: Array<Before | null>): BuiltBlock {
  const bs = blockStart(k)
  const be = bs + BLOCK_BYTES
  const last = rows[rows.length - 1]
  // One byte before, to know whether the block starts inside a token; MAX_TOKEN after, to hash one that ends later.
  const from = Math.max(rows[0].at, bs - 1)
  const data = Buffer.allocUnsafe(Math.min(last.at + last.length, be + MAX_TOKEN) - from)
  readFully(fd, data, from)
  const hashes = new Set<number>()
  const levels = LEVELS.map(() => 0)
  let unfiltered = false
  let lines = 0
  let minTs = Infinity
  let maxTs = -Infinity
  for (const [i, r] of rows.entries()) {
    minTs = Math.min(minTs, r.timestamp)
    maxTs = Math.max(maxTs, r.timestamp)
    // This entry's data in the buffer: [a, b) is its part in the block, [a, limit) what its tokens may use.
    const a = Math.max(r.at, bs) - from
    const b = Math.min(r.at + r.length, be) - from
    const limit = Math.min(r.at + r.length - from, data.length)
    let skip = a
    if (WORD[data[a]] === 1) {
      if (r.at >= bs && befores[i]) {
        const joined = leadingToken(data, a, limit, befores[i])
        if (joined === null) unfiltered = true
        else hashes.add(tokenHash(joined, 0, joined.length))
      }
      // A token that began before the block, or in the entry before, is not this block's.
      if ((r.at >= bs && befores[i]) || (r.at < bs && WORD[data[a - 1]] === 1)) {
        while (skip < b && WORD[data[skip]] === 1) skip++
      }
    }
    let levelSeen = false
    let lineEnd = nextNewline(data, skip, b)
    forEachToken(data, skip, limit, (s, e) => {
      if (s >= b) return
      const h = tokenHash(data, s, e)
      hashes.add(h)
      if (s > lineEnd) { levelSeen = false; lineEnd = nextNewline(data, s, b) }
      const level = levelSeen ? undefined : LEVEL_HASH.get(h)
      if (level !== undefined) { levels[level]++; levelSeen = true }
    })
    for (let nl = data.indexOf(NL, a); nl >= 0 && nl < b; nl = data.indexOf(NL, nl + 1)) lines++
  }
  const sorted = Uint32Array.from(hashes).sort()
  return { k, unfiltered, minTs, maxTs, lines, levels, hashes: sorted }
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

/** The first newline in data[from, to), or Infinity. */
function nextNewline (data: Buffer, from: number, to: number): number {
  const nl = data.indexOf(NL, from)
  return nl >= 0 && nl < to ? nl : Infinity
}

function readFully (fd: number, buf: Buffer, position: number): void {
  for (let done = 0; done < buf.length;) {
    const n = fs.readSync(fd, buf, done, buf.length - done, position + done)
    if (n === 0) throw new Error(`segment ends ${buf.length - done} bytes early at ${position + done}`)
    done += n
  }
}
