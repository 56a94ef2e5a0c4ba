// The index worker (a piscina task, one thread): builds blocks of a segment from its file, and writes a sealed
// segment's sidecar. Tokenizing runs here so that ingest on the server's event loop never waits for it.
import fs from 'node:fs'
import { buildBlock, type Before, type BuiltBlock, type EntryRow } from './blocks'
import { SUMMARY } from '../levels'
import { buildFilter } from '../blockfilter'
import { sidecarFile, writeSidecar } from './sidecar'
import { niceThisThread } from '../../util/nice'

/**
 * A block to build: its number, and the entries with data in it (file order, the first being entry `first` of the
 * segment) with what precedes each.
 */
export interface BlockJob { k: number, first: number, rows: EntryRow[], befores: Array<Before | null> }

export interface IndexTask {
  segment: string
  build: BlockJob[]
  /**
   * When set, the sidecar is written from `built` plus the blocks built now, which must complete the segment;
   * `entries` is its entry table, in file order.
   */
  seal?: { segmentBytes: number, sources: string[], entries: EntryRow[], built: BuiltBlock[] }
}

export interface IndexResult { blocks: BuiltBlock[], sidecarBytes: number }

// Ingest before indexing: on a busy machine the index lags (queries read more) instead of the store acknowledging
// batches later.
niceThisThread()

const empty = (k: number): BuiltBlock =>
  ({ k, unfiltered: false, hashes: new Uint32Array(0), summaries: new Uint32Array(0) })

export default function run (task: IndexTask): IndexResult {
  const fd = fs.openSync(task.segment, 'r')
  let blocks: BuiltBlock[]
  try {
    blocks = task.build.map(j => j.rows.length === 0 ? empty(j.k) : buildBlock(fd, j.k, j.first, j.rows, j.befores))
  } finally {
    fs.closeSync(fd)
  }
  if (!task.seal) return { blocks, sidecarBytes: 0 }
  const all = [...task.seal.built, ...blocks]
  const { shape, bits } = buildFilter(all.map(b => b.hashes))
  // An entry's summary is the sum of its parts in the blocks it spans.
  const summaries = new Uint32Array(task.seal.entries.length * SUMMARY)
  for (const b of all) {
    for (let o = 0; o < b.summaries.length; o += 1 + SUMMARY) {
      const at = b.summaries[o] * SUMMARY
      for (let j = 0; j < SUMMARY; j++) summaries[at + j] += b.summaries[o + 1 + j]
    }
  }
  const sidecarBytes = writeSidecar(sidecarFile(task.segment), {
    segmentBytes: task.seal.segmentBytes,
    sources: task.seal.sources,
    entries: task.seal.entries,
    summaries,
    blocks: all.map(b => ({ unfiltered: b.unfiltered })),
    shape,
    filter: bits,
  })
  return { blocks: [], sidecarBytes }
}
