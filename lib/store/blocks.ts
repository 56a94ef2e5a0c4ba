// A segment's blocks: runs of consecutive entries of about BLOCK_BYTES of data, the unit a filter prunes. Each
// block gets its distinct token hashes and a summary (time range, lines, lines per level) read from the segment
// file. This runs in the index worker, off the ingest thread.
import fs from 'node:fs'
import { MAX_TOKEN, WORD, forEachToken, tokenHash } from './tokens'
import { NL } from '../util/bytes'

/** Small enough that a false positive costs one short read; the filters' share of the data does not depend on it. */
export const BLOCK_BYTES = 256 * 1024

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
  /** Index of the block's first entry. */
  first: number
  /** True when the filter cannot be trusted for this block (a token began where it could not be read): scan it. */
  unfiltered: boolean
  minTs: number
  maxTs: number
  /** Newlines in the block's data. */
  lines: number
  /** Lines by the first level word they hold, in LEVELS order. */
  levels: number[]
}

export interface BuiltBlock extends BlockSummary {
  /** The block's distinct token hashes, ascending. */
  hashes: Uint32Array
}

/** The index of each block's first entry: a block closes once its data reaches BLOCK_BYTES. */
export function blockStarts (rows: Array<{ length: number }>): number[] {
  const starts: number[] = []
  let bytes = BLOCK_BYTES
  for (const [i, r] of rows.entries()) {
    if (bytes >= BLOCK_BYTES) { starts.push(i); bytes = 0 }
    bytes += r.length
  }
  return starts
}

const LEVEL_HASH = new Map<number, number>(LEVELS.map((l, i) => [tokenHash(Buffer.from(l), 0, l.length), i]))
LEVEL_HASH.set(tokenHash(Buffer.from('warning'), 0, 7), LEVELS.indexOf('warn'))

/**
 * Builds block [first, end) of `rows` from segment `file`; `befores[i]` is where the bytes before rows[i] lie, or
 * null when rows[i] does not go on from an earlier entry.
 */
export function buildBlock (fd: number, rows: EntryRow[], first: number, end: number,
  befores: Array<Before | null>): BuiltBlock {
  const start = rows[first].at
  const last = rows[end - 1]
  const data = Buffer.allocUnsafe(last.at + last.length - start)
  readFully(fd, data, start)
  const hashes = new Set<number>()
  const levels = LEVELS.map(() => 0)
  let unfiltered = false
  let lines = 0
  let minTs = Infinity
  let maxTs = -Infinity
  for (let i = first; i < end; i++) {
    const r = rows[i]
    minTs = Math.min(minTs, r.timestamp)
    maxTs = Math.max(maxTs, r.timestamp)
    const from = r.at - start
    const to = from + r.length
    let skip = from
    if (r.length > 0 && WORD[data[from]] === 1 && befores[i]) {
      const joined = leadingToken(data, from, to, befores[i]!)
      if (joined === null) unfiltered = true
      else hashes.add(tokenHash(joined, 0, joined.length))
      while (skip < to && WORD[data[skip]] === 1) skip++
    }
    let levelSeen = false
    let lineEnd = nextNewline(data, skip, to)
    forEachToken(data, skip, to, (s, e) => {
      const h = tokenHash(data, s, e)
      hashes.add(h)
      if (s > lineEnd) { levelSeen = false; lineEnd = nextNewline(data, s, to) }
      const level = levelSeen ? undefined : LEVEL_HASH.get(h)
      if (level !== undefined) { levels[level]++; levelSeen = true }
    })
    for (let nl = data.indexOf(NL, from); nl >= 0 && nl < to; nl = data.indexOf(NL, nl + 1)) lines++
  }
  const sorted = Uint32Array.from(hashes).sort()
  return { first, unfiltered, minTs, maxTs, lines, levels, hashes: sorted }
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
