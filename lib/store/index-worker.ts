// The index worker (a piscina task, one thread): builds blocks of a segment from its file, and writes a sealed
// segment's sidecar. Tokenizing runs here so that ingest on the server's event loop never waits for it.
import fs from 'node:fs'
import { buildBlock, LEVELS, type Before, type BuiltBlock, type EntryRow } from './blocks'
import { buildFilter } from './blockfilter'
import { sidecarFile, writeSidecar } from './sidecar'

/** A block to build: its number, and the entries with data in it (file order) with what precedes each. */
export interface BlockJob { k: number, rows: EntryRow[], befores: Array<Before | null> }

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

const empty = (k: number): BuiltBlock =>
  ({ k, unfiltered: false, minTs: 0, maxTs: 0, lines: 0, levels: LEVELS.map(() => 0), hashes: new Uint32Array(0) })

export default function run (task: IndexTask): IndexResult {
  const fd = fs.openSync(task.segment, 'r')
  let blocks: BuiltBlock[]
  try {
    blocks = task.build.map(j => j.rows.length === 0 ? empty(j.k) : buildBlock(fd, j.k, j.rows, j.befores))
  } finally {
    fs.closeSync(fd)
  }
  if (!task.seal) return { blocks, sidecarBytes: 0 }
  const all = [...task.seal.built, ...blocks]
  const { shape, bits } = buildFilter(all.map(b => b.hashes))
  const sidecarBytes = writeSidecar(sidecarFile(task.segment), {
    segmentBytes: task.seal.segmentBytes,
    sources: task.seal.sources,
    entries: task.seal.entries,
    blocks: all.map(({ hashes: _, k: __, ...summary }) => summary),
    shape,
    filter: bits,
  })
  return { blocks: [], sidecarBytes }
}
