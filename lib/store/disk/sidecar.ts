// Index sidecars, format version 1 (documented in lib/store/README.md): `N.idx` beside a sealed segment `N.seg`,
// holding what the store otherwise learns by reading the whole segment (its entry table, with each entry's line
// and level counts for histograms) and what lets a query skip most of it (the bit-sliced token filter). Written
// temp → fsync → rename, so a crash leaves the old state or the new one; each section carries a CRC-32, and one
// that does not check out makes the store rebuild the sidecar while queries scan that segment.
//
//   header  52 bytes: "LOGFSIDX" | u32 version | u32 0 | f64 segment bytes covered | u32 sources | u32 entries |
//                     u32 blocks | u32 filter rows | u32 probes | u32 row bytes | u32 CRC-32 of the 48 bytes before
//   then four sections, each u32 length | u32 CRC-32 | body, and the filter:
//   sources  per source: u16 length | name (UTF-8)
//   entries  68 bytes each, in file order: u32 source | u32 length | f64 gen | f64 offset | f64 timestamp | f64 at |
//            u32 lines | u32 lines per level × 6 (fatal, error, warn, info, debug, trace)
//   blocks   4 bytes each (block k is segment bytes 16 + k·256 KiB on): u32 flags (1: unfiltered)
//   pages    u32 CRC-32 of each 4 KiB page of the filter
//   filter   u32 length | u32 0 | rows × row bytes (../blockfilter.ts), checked a page at a time as lookups read it
import fs from 'node:fs'
import { threadId } from 'node:worker_threads'
import { crc32 } from 'node:zlib'
import { blocksIn, type BlockSummary, type EntryRow } from './blocks'
import { SUMMARY } from '../levels'
import type { EntryRef } from './segment'
import { mayHoldAll, type FilterShape } from '../blockfilter'
import { writeFileAtomic } from '../../util/atomic-file'
import { readFully } from '../../util/read-fully'

export const SIDECAR_MAGIC = Buffer.from('LOGFSIDX')
export const SIDECAR_VERSION = 1
const HEADER = 52
const ENTRY = 40 + 4 * SUMMARY
const BLOCK = 4
/** The filter is checked in pages of this size: a lookup reads a few rows, and checks only the pages they are in. */
const PAGE = 4096

export interface SidecarContent {
  /** Bytes of the segment the sidecar describes; a segment of another size makes it stale. */
  segmentBytes: number
  sources: string[]
  entries: EntryRow[]
  /** SUMMARY numbers per entry: its lines, and lines per level. */
  summaries: Uint32Array
  blocks: BlockSummary[]
  shape: FilterShape
  filter: Uint8Array
}

export function sidecarFile (segmentFile: string): string { return segmentFile.replace(/\.seg$/, '.idx') }

function section (body: Buffer): Buffer {
  const head = Buffer.allocUnsafe(8)
  head.writeUInt32LE(body.length, 0)
  head.writeUInt32LE(crc32(body), 4)
  return Buffer.concat([head, body])
}

export function encodeSidecar (c: SidecarContent): Buffer {
  const header = Buffer.alloc(HEADER)
  SIDECAR_MAGIC.copy(header)
  header.writeUInt32LE(SIDECAR_VERSION, 8)
  header.writeDoubleLE(c.segmentBytes, 16)
  ;[c.sources.length, c.entries.length, c.blocks.length, c.shape.rows, c.shape.probes, c.shape.rowBytes]
    .forEach((n, i) => header.writeUInt32LE(n, 24 + 4 * i))
  const names = c.sources.map(s => Buffer.from(s, 'utf8'))
  const sources = Buffer.allocUnsafe(names.reduce((n, b) => n + 2 + b.length, 0))
  let at = 0
  for (const b of names) { sources.writeUInt16LE(b.length, at); b.copy(sources, at + 2); at += 2 + b.length }
  const entries = Buffer.allocUnsafe(c.entries.length * ENTRY)
  for (const [i, e] of c.entries.entries()) {
    const o = i * ENTRY
    entries.writeUInt32LE(e.source, o)
    entries.writeUInt32LE(e.length, o + 4)
    entries.writeDoubleLE(e.gen, o + 8)
    entries.writeDoubleLE(e.offset, o + 16)
    entries.writeDoubleLE(e.timestamp, o + 24)
    entries.writeDoubleLE(e.at, o + 32)
    for (let j = 0; j < SUMMARY; j++) entries.writeUInt32LE(c.summaries[i * SUMMARY + j], o + 40 + 4 * j)
  }
  const blocks = Buffer.alloc(c.blocks.length * BLOCK)
  for (const [i, b] of c.blocks.entries()) {
    const o = i * BLOCK
    blocks.writeUInt32LE(b.unfiltered ? 1 : 0, o)
  }
  header.writeUInt32LE(crc32(header.subarray(0, HEADER - 4)), HEADER - 4)
  const filter = Buffer.from(c.filter.buffer, c.filter.byteOffset, c.filter.byteLength)
  const pages = Buffer.allocUnsafe(4 * Math.ceil(filter.length / PAGE))
  for (let p = 0; p * PAGE < filter.length; p++) {
    pages.writeUInt32LE(crc32(filter.subarray(p * PAGE, (p + 1) * PAGE)), 4 * p)
  }
  const filterHead = Buffer.alloc(8)
  filterHead.writeUInt32LE(filter.length, 0)
  return Buffer.concat([header, section(sources), section(entries), section(blocks), section(pages), filterHead,
    filter])
}

export function writeSidecar (file: string, c: SidecarContent): number {
  const bytes = encodeSidecar(c)
  // A temporary name of this thread's own: a store closing and one opening in the same process (tests) may both
  // be writing the sidecar of one segment.
  writeFileAtomic(file, bytes, `${file}.${threadId}.tmp`)
  return bytes.length
}

export interface Opened { sidecar: Sidecar, entries: EntryRef[] }

/** Thrown when a sidecar cannot be used; the store then rebuilds it. */
export class SidecarError extends Error {}

/**
 * A sidecar opened for queries: its tables are read and checked at once; the filter, the bulk of it, stays on
 * disk and is read a row at a time, each 4 KiB page of it checked the first time a row in it is read (so
 * start-up reads only the tables, and a first search only the pages it needs).
 */
export class Sidecar {
  private readonly verified: Uint8Array

  private constructor (
    readonly file: string,
    private readonly fd: number,
    readonly blocks: BlockSummary[],
    readonly shape: FilterShape,
    private readonly filterAt: number,
    private readonly pageCrcs: Buffer,
    readonly bytes: number,
    /** SUMMARY numbers per entry, in file order: kept in memory, as a histogram counts lines of every entry. */
    readonly summaries: Uint32Array,
  ) {
    this.verified = new Uint8Array(pageCrcs.length / 4)
  }

  /**
   * Opens `file` for a segment of `segmentBytes` bytes, with its entry table (which the store keeps in its own
   * form); throws SidecarError when it is not usable.
   */
  static open (file: string, segmentBytes: number): Opened {
    let fd: number
    try { fd = fs.openSync(file, 'r') } catch (err) { throw new SidecarError((err as Error).message) }
    try {
      return Sidecar.read(file, fd, segmentBytes)
    } catch (err) {
      fs.closeSync(fd)
      throw err instanceof SidecarError ? err : new SidecarError((err as Error).message)
    }
  }

  private static read (file: string, fd: number, segmentBytes: number): Opened {
    const size = fs.fstatSync(fd).size
    const header = readAt(fd, 0, HEADER, size)
    if (!header.subarray(0, 8).equals(SIDECAR_MAGIC)) throw new SidecarError('not a logfs sidecar')
    if (crc32(header.subarray(0, HEADER - 4)) !== header.readUInt32LE(HEADER - 4)) {
      throw new SidecarError('header CRC mismatch')
    }
    const version = header.readUInt32LE(8)
    if (version !== SIDECAR_VERSION) throw new SidecarError(`sidecar version ${version} is not ${SIDECAR_VERSION}`)
    const covers = header.readDoubleLE(16)
    if (covers !== segmentBytes) throw new SidecarError(`covers ${covers} bytes, the segment has ${segmentBytes}`)
    const [nSources, nEntries, nBlocks, rows, probes, rowBytes] = [0, 1, 2, 3, 4, 5]
      .map(i => header.readUInt32LE(24 + 4 * i))
    let at = HEADER
    const next = (what: string): Buffer => {
      const head = readAt(fd, at, 8, size)
      const body = readAt(fd, at + 8, head.readUInt32LE(0), size)
      if (crc32(body) !== head.readUInt32LE(4)) throw new SidecarError(`${what} CRC mismatch`)
      at += 8 + body.length
      return body
    }
    const sourcesBody = next('sources')
    const sources: string[] = []
    for (let o = 0; sources.length < nSources; o += 2 + sourcesBody.readUInt16LE(o)) {
      sources.push(sourcesBody.toString('utf8', o + 2, o + 2 + sourcesBody.readUInt16LE(o)))
    }
    const entriesBody = next('entries')
    if (entriesBody.length !== nEntries * ENTRY) throw new SidecarError('entry table size mismatch')
    const entries: EntryRef[] = []
    const summaries = new Uint32Array(nEntries * SUMMARY)
    // A DataView, not Buffer's read methods: a large store opens hundreds of thousands of entries.
    const view = new DataView(entriesBody.buffer, entriesBody.byteOffset, entriesBody.byteLength)
    for (let o = 0; o < entriesBody.length; o += ENTRY) {
      const source = sources[view.getUint32(o, true)]
      if (source === undefined) throw new SidecarError('an entry names no source')
      entries.push({
        source,
        length: view.getUint32(o + 4, true),
        gen: view.getFloat64(o + 8, true),
        offset: view.getFloat64(o + 16, true),
        timestamp: view.getFloat64(o + 24, true),
        at: view.getFloat64(o + 32, true),
      })
      const i = (o / ENTRY) * SUMMARY
      for (let j = 0; j < SUMMARY; j++) summaries[i + j] = view.getUint32(o + 40 + 4 * j, true)
    }
    const blocksBody = next('blocks')
    if (blocksBody.length !== nBlocks * BLOCK || nBlocks !== blocksIn(segmentBytes)) {
      throw new SidecarError('block table size mismatch')
    }
    const blocks: BlockSummary[] = []
    for (let o = 0; o < blocksBody.length; o += BLOCK) {
      blocks.push({ unfiltered: (blocksBody.readUInt32LE(o) & 1) !== 0 })
    }
    const pages = next('pages')
    const filterLength = readAt(fd, at, 8, size).readUInt32LE(0)
    if (filterLength !== rows * rowBytes || rowBytes !== Math.ceil(nBlocks / 8) || at + 8 + filterLength !== size ||
      pages.length !== 4 * Math.ceil(filterLength / PAGE)) {
      throw new SidecarError('filter size mismatch')
    }
    const sidecar = new Sidecar(file, fd, blocks, { rows, probes, rowBytes }, at + 8, pages, size, summaries)
    return { sidecar, entries }
  }

  /** Checks the filter pages that hold bytes [from, to) of it (each once); throws SidecarError on a mismatch. */
  private check (from: number, to: number): void {
    for (let p = Math.floor(from / PAGE); p * PAGE < to; p++) {
      if (this.verified[p] === 1) continue
      const length = Math.min(PAGE, this.shape.rows * this.shape.rowBytes - p * PAGE)
      if (crc32(readAt(this.fd, this.filterAt + p * PAGE, length, Infinity)) !== this.pageCrcs.readUInt32LE(4 * p)) {
        throw new SidecarError(`filter page ${p} CRC mismatch`)
      }
      this.verified[p] = 1
    }
  }

  /** Bitmap of the blocks that may hold every token of `hashes`. */
  mayHoldAll (hashes: number[]): Uint8Array {
    const row = Buffer.allocUnsafe(this.shape.rowBytes)
    return mayHoldAll(hashes, this.shape, this.blocks.length, r => {
      this.check(r * row.length, (r + 1) * row.length)
      fs.readSync(this.fd, row, 0, row.length, this.filterAt + r * row.length)
      return row
    })
  }

  close (): void { fs.closeSync(this.fd) }
}

function readAt (fd: number, position: number, length: number, size: number): Buffer {
  if (position + length > size) throw new SidecarError(`truncated at ${position}`)
  const buf = Buffer.allocUnsafe(length)
  try {
    readFully(fd, buf, position)
  } catch (err) {
    throw new SidecarError((err as Error).message)
  }
  return buf
}
