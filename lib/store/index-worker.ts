// The index worker (a piscina task, one thread): builds blocks of a segment from its file, and writes a sealed
// segment's sidecar. Tokenizing runs here so that ingest on the server's event loop never waits for it.
import fs from 'node:fs'
import { buildBlock, type Before, type BuiltBlock, type EntryRow } from './blocks'
import { buildFilter } from './blockfilter'
import { sidecarFile, writeSidecar } from './sidecar'

export interface IndexTask {
  segment: string
  /** Entries of the segment, in file order, from entry number `base` on. */
  rows: EntryRow[]
  befores: Array<Before | null>
  base: number
  /** Blocks to build, as [first, end) entry numbers of the segment. */
  build: Array<[number, number]>
  /** When set, the sidecar is written from `built` plus the blocks built now, which must complete the segment. */
  seal?: { segmentBytes: number, sources: string[], built: BuiltBlock[] }
}

export interface IndexResult { blocks: BuiltBlock[], sidecarBytes: number }

export default function run (task: IndexTask): IndexResult {
  const fd = fs.openSync(task.segment, 'r')
  let blocks: BuiltBlock[]
  try {
    blocks = task.build.map(([first, end]) => {
      const b = buildBlock(fd, task.rows, first - task.base, end - task.base, task.befores)
      return { ...b, first }
    })
  } finally {
    fs.closeSync(fd)
  }
  if (!task.seal) return { blocks, sidecarBytes: 0 }
  const all = [...task.seal.built, ...blocks]
  const { shape, bits } = buildFilter(all.map(b => b.hashes))
  const sidecarBytes = writeSidecar(sidecarFile(task.segment), {
    segmentBytes: task.seal.segmentBytes,
    sources: task.seal.sources,
    entries: task.rows,
    blocks: all.map(({ hashes, ...summary }) => summary),
    shape,
    filter: bits,
  })
  return { blocks: [], sidecarBytes }
}
