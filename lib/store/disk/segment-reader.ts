// Where the embedded store's extents lie, a segment and the file offset of the first data byte, and how their
// bytes are read from the segment files the store holds open.
import fs from 'node:fs'
import { promisify } from 'node:util'
import type { Extent, ExtentReader, Pieces, SourceIndex } from '../source'
import type { Segment } from './segments'

export interface SegmentExtent extends Extent {
  seg: Segment
  /** Segment file offset of the first data byte. */
  at: number
  src: SourceIndex<SegmentExtent>
}

/**
 * Pieces of one asynchronous read that lie this close in one segment are read with one call: a source shipped in
 * small batches has thousands of tiny extents per window, and a threadpool round trip costs more than the bytes
 * between them. One call spans at most SPAN bytes of a segment and RUN pieces, which are copied out of it on the
 * event loop when the call completes.
 */
const GAP = 16 * 1024
const SPAN = 8 * 1024 * 1024
const RUN = 1024

const pread = promisify(fs.read)

export const segmentReader: ExtentReader<SegmentExtent> = {
  readSync (e, from, length, out, at) { fs.readSync(e.seg.fd, out, at, length, e.at + from) },
  async read (p, out) {
    // One read at a time: more in parallel would take the event loop's core for threadpool copying.
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

/** Reads the span of a segment that pieces [a, b) lie in, and puts each piece in its place in `out`. */
async function readRun (p: Pieces<SegmentExtent>, a: number, b: number, out: Buffer): Promise<void> {
  const fd = p.extents[a].seg.fd
  if (b - a === 1) {
    await pread(fd, out, p.offsets[a], p.size(a), fileStart(p, a))
    return
  }
  const start = fileStart(p, a)
  const length = fileStart(p, b - 1) + p.size(b - 1) - start
  const span = spans.pop() ?? Buffer.allocUnsafe(SPAN)
  try {
    await pread(fd, span, 0, length, start)
    for (let k = a; k < b; k++) {
      span.copy(out, p.offsets[k], fileStart(p, k) - start, fileStart(p, k) - start + p.size(k))
    }
  } finally {
    if (spans.length < SPARE_SPANS) spans.push(span)
  }
}

/**
 * Span buffers kept for the next run read rather than left to the garbage collector: a scan reads one per window,
 * and the full collections that megabytes of short-lived buffers bring held ingest acks up (bench:stall).
 */
const spans: Buffer[] = []
const SPARE_SPANS = 2
