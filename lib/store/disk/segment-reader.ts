// Where the embedded store's extents lie, a segment and the file offset of the first data byte, and how their
// bytes are read from the segment files the store holds open.
import fs from 'node:fs'
import { promisify } from 'node:util'
import type { Extent, ExtentReader, SourceIndex } from '../source'
import type { Pieces } from '../pieces'
import type { Segment } from './segments'

export interface SegmentExtent extends Extent {
  seg: Segment
  /** Segment file offset of the first data byte. */
  at: number
  src: SourceIndex<SegmentExtent>
}

/**
 * Pieces of one asynchronous read that lie this close in one segment are read with one call: a source shipped in
 * small batches has thousands of tiny extents per window, and a threadpool round trip (tens of µs) costs more than
 * copying the bytes between them. A tenant's sources share its segments, so one source's extents of a window
 * alternate with its neighbours': at two or three busy sources, a gap is a batch or two of theirs. One call (a
 * readv: each piece straight to its place, the bytes between into a scratch buffer) spans at most SPAN bytes of a
 * segment and RUN pieces, within the kernel's limit of 1024 buffers a call.
 */
const GAP = 256 * 1024
const SPAN = 8 * 1024 * 1024
const RUN = 500

const pread = promisify(fs.read)
const preadv = promisify(fs.readv)

export const segmentReader: ExtentReader<SegmentExtent> = {
  readSync (e, from, length, out, at) { fs.readSync(e.seg.fd, out, at, length, e.at + from) },
  async read (p, out) {
    // One read at a time: the threadpool's other threads stay free for ingest's writes and fsyncs.
    for (const [a, b] of runs(p)) await readRun(p, a, b, out)
  },
}

/** Segment file offset of piece k. */
const fileStart = (p: Pieces<SegmentExtent>, k: number): number => p.extents[k].at + p.start(k)

/** Pieces [a, b) that one read of their segment covers (see GAP). */
function runs (p: Pieces<SegmentExtent>): Array<[number, number]> {
  const out: Array<[number, number]> = []
  let a = 0
  for (let k = 1; k <= p.count; k++) {
    const joins = k < p.count && k - a < RUN && p.extents[k].seg === p.extents[a].seg &&
      fileStart(p, k) >= fileStart(p, k - 1) + p.size(k - 1) &&
      fileStart(p, k) - (fileStart(p, k - 1) + p.size(k - 1)) <= GAP &&
      fileStart(p, k) + p.size(k) - fileStart(p, a) <= SPAN
    if (!joins) {
      out.push([a, k])
      a = k
    }
  }
  return out
}

/** Where the bytes between a run's pieces go: nothing reads them. */
const scratch = Buffer.allocUnsafe(GAP)

/** Reads pieces [a, b) of one segment with one call, each piece to its place in `out`. */
async function readRun (p: Pieces<SegmentExtent>, a: number, b: number, out: Buffer): Promise<void> {
  const fd = p.extents[a].seg.fd
  if (b - a === 1) {
    await pread(fd, out, p.offsets[a], p.size(a), fileStart(p, a))
    return
  }
  const buffers: Buffer[] = []
  for (let k = a; k < b; k++) {
    if (k > a) {
      const gap = fileStart(p, k) - (fileStart(p, k - 1) + p.size(k - 1))
      if (gap > 0) buffers.push(scratch.subarray(0, gap))
    }
    buffers.push(out.subarray(p.offsets[k], p.offsets[k] + p.size(k)))
  }
  await preadv(fd, buffers, fileStart(p, a))
}
