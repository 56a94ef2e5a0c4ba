// The record layout of a ring, shared by the producer (lib/native/fuse/intake.h, which defines it: the numbers
// here are the ones the native core exports, native.constants.ring) and every reader: the main thread cutting
// batches and the shipping workers encoding them. A worker loads the addon for these numbers on its first batch.
//
// Record layout, 8-byte aligned, at `pos % capacity`:
//   u32 dataLength | u32 sourceId | f64 cursor offset | f64 timestamp (ms since epoch) | data bytes
// A record never wraps: when fewer than `header` bytes remain before the end of the buffer, both sides skip to
// the start; when the header fits but the data does not, the producer writes a PAD record to the end.
//
// The control block: int64 head (published by the producer), tail (published by the main thread on
// acknowledgement), "announced" (set by the producer when bytes arrive and nobody was told yet), the bytes the
// tenant holds on loan from the shared pool (lib/native/fuse/budget.h), then the tenant's counters as doubles
// (`stat`), written by the producer.
import { native, type Constants } from '../native/fuse/native'

/** The layout the native core was built with. */
export const layout = (): Constants['ring'] => native.constants.ring

/**
 * The ring-size rule, for every place that takes a ring size: returns `bytes` when it may be one, else throws a
 * `Failure` that names the setting (`what`). Records are 8-byte aligned, so a ring holds whole 8-byte words.
 */
export function checkRingSize (bytes: number, what: string,
  Failure: new (message: string) => Error = RangeError): number {
  if (bytes < 1024 * 1024 || bytes % 8 !== 0) {
    throw new Failure(`${what} must be at least 1MiB and a multiple of 8 bytes`)
  }
  return bytes
}

export interface RingRecord {
  sourceId: number
  offset: number
  timestamp: number
  data: Uint8Array
}

const align8 = (n: number): number => (n + 7) & ~7

/** The position just past the record (or skip) at `pos`. */
export function nextRecord (u32: Uint32Array, capacity: number, pos: number,
  { header, pad } = layout()): number {
  const at = pos % capacity
  const room = capacity - at
  if (room < header) return pos + room
  const length = u32[at >> 2]
  if (u32[(at >> 2) + 1] === pad) return pos + room
  return pos + align8(header + length)
}

/**
 * Reads the records in [start, end) of a ring from any thread. Data views alias the shared memory: the caller
 * must copy or encode them before the range is acknowledged.
 */
export function readRecords (data: SharedArrayBuffer, control: SharedArrayBuffer, start: number, end: number,
  onRecord: (r: RingRecord) => void): void {
  const ring = layout()
  const { header, pad } = ring
  const ctl = new BigInt64Array(control)
  const head = Number(Atomics.load(ctl, ring.ctl.head))
  const tail = Number(Atomics.load(ctl, ring.ctl.tail))
  if (start < tail || end > head || start > end) {
    throw new RangeError(`ring range [${start}, ${end}) is not inside the live range [${tail}, ${head})`)
  }
  const capacity = data.byteLength
  const u32 = new Uint32Array(data)
  const f64 = new Float64Array(data)
  let pos = start
  while (pos < end) {
    const at = pos % capacity
    const next = nextRecord(u32, capacity, pos, ring)
    if (capacity - at >= header && u32[(at >> 2) + 1] !== pad) {
      onRecord({
        sourceId: u32[(at >> 2) + 1],
        offset: f64[(at >> 3) + 1],
        timestamp: f64[(at >> 3) + 2],
        data: new Uint8Array(data, at + header, u32[at >> 2]),
      })
    }
    pos = next
  }
}
