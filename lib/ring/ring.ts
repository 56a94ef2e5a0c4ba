// A single-producer ring of write records in a SharedArrayBuffer.
//
// The FUSE thread is the only producer and the only one that frees space (on acknowledgement); worker threads
// read a byte range of it that the main thread hands them in a task. Positions are monotonic byte counters
// (never wrapped), so a range [start, end) names the same bytes for as long as it is unacknowledged and a
// resend after a reconnect reads exactly what was sent before.
//
// Record layout, 8-byte aligned, at `pos % capacity`:
//   u32 dataLength | u32 sourceId | f64 cursor offset | f64 timestamp (ms since epoch) | data bytes
// A record never wraps: when fewer than HEADER bytes remain before the end of the buffer, both sides skip to
// the start; when the header fits but the data does not, the producer writes a PAD record to the end.

export const HEADER = 24
export const PAD = 0xffffffff
const CTL_HEAD = 0
const CTL_TAIL = 1

export interface RingRecord {
  sourceId: number
  offset: number
  timestamp: number
  data: Uint8Array
}

const align8 = (n: number): number => (n + 7) & ~7

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

export class Ring {
  readonly capacity: number
  readonly data: SharedArrayBuffer
  /** head and tail, published with Atomics so a worker can check the range it was given (head: at each cut). */
  readonly control: SharedArrayBuffer
  private readonly u8: Uint8Array
  private readonly u32: Uint32Array
  private readonly f64: Float64Array
  private readonly ctl: BigInt64Array
  head = 0
  tail = 0

  constructor (capacity: number) {
    this.capacity = checkRingSize(capacity, `ring capacity ${capacity}`)
    this.data = new SharedArrayBuffer(capacity)
    this.control = new SharedArrayBuffer(16)
    this.u8 = new Uint8Array(this.data)
    this.u32 = new Uint32Array(this.data)
    this.f64 = new Float64Array(this.data)
    this.ctl = new BigInt64Array(this.control)
  }

  get used (): number { return this.head - this.tail }
  get free (): number { return this.capacity - this.used }

  /** Largest data length one record may carry: it must always fit in an empty ring, with room to spare. */
  get maxRecordData (): number { return Math.floor(this.capacity / 4) - HEADER }

  /** Where the head would be after a record of `length` data bytes written at `pos` (skip and pad included). */
  endAfter (pos: number, length: number): number {
    const size = align8(HEADER + length)
    const room = this.capacity - (pos % this.capacity)
    return pos + (room < size ? room + size : size)
  }

  /** Copies one write into the ring; false (and nothing written) when it does not fit. */
  tryWrite (sourceId: number, offset: number, timestamp: number, bytes: Uint8Array): boolean {
    const size = align8(HEADER + bytes.length)
    if (bytes.length > this.maxRecordData) throw new RangeError(`record of ${bytes.length} bytes exceeds ring limit`)
    let at = this.head % this.capacity
    const room = this.capacity - at
    if (room < size) {
      if (this.free < room + size) return false
      if (room >= HEADER) {
        this.u32[at >> 2] = room - HEADER
        this.u32[(at >> 2) + 1] = PAD
      }
      this.head += room
      at = 0
    } else if (this.free < size) {
      return false
    }
    this.u32[at >> 2] = bytes.length
    this.u32[(at >> 2) + 1] = sourceId
    this.f64[(at >> 3) + 1] = offset
    this.f64[(at >> 3) + 2] = timestamp
    this.u8.set(bytes, at + HEADER)
    this.head += size
    return true
  }

  /**
   * The end of the longest run of whole records from `start` that spans at most `maxBytes` (at least one record).
   * Publishes the head for the worker that will read the run (once per batch, not once per write).
   */
  cut (start: number, maxBytes: number): number {
    Atomics.store(this.ctl, CTL_HEAD, BigInt(this.head))
    let pos = start
    while (pos < this.head) {
      const next = nextRecord(this.u32, this.capacity, pos)
      if (next - start > maxBytes && pos > start) break
      pos = next
    }
    return pos
  }

  /** Frees everything before `pos`; called when the server has acknowledged it. */
  release (pos: number): void {
    if (pos < this.tail || pos > this.head) throw new RangeError(`release(${pos}) outside [${this.tail}, ${this.head}]`)
    this.tail = pos
    Atomics.store(this.ctl, CTL_TAIL, BigInt(pos))
  }
}

function nextRecord (u32: Uint32Array, capacity: number, pos: number): number {
  const at = pos % capacity
  const room = capacity - at
  if (room < HEADER) return pos + room
  const length = u32[at >> 2]
  if (u32[(at >> 2) + 1] === PAD) return pos + room
  return pos + align8(HEADER + length)
}

/**
 * Reads the records in [start, end) of a ring from any thread. Data views alias the shared memory: the caller
 * must copy or encode them before the range is acknowledged.
 */
export function readRecords (data: SharedArrayBuffer, control: SharedArrayBuffer, start: number, end: number,
  onRecord: (r: RingRecord) => void): void {
  const ctl = new BigInt64Array(control)
  const head = Number(Atomics.load(ctl, CTL_HEAD))
  const tail = Number(Atomics.load(ctl, CTL_TAIL))
  if (start < tail || end > head || start > end) {
    throw new RangeError(`ring range [${start}, ${end}) is not inside the live range [${tail}, ${head})`)
  }
  const capacity = data.byteLength
  const u32 = new Uint32Array(data)
  const f64 = new Float64Array(data)
  let pos = start
  while (pos < end) {
    const at = pos % capacity
    const next = nextRecord(u32, capacity, pos)
    if (capacity - at >= HEADER && u32[(at >> 2) + 1] !== PAD) {
      onRecord({
        sourceId: u32[(at >> 2) + 1],
        offset: f64[(at >> 3) + 1],
        timestamp: f64[(at >> 3) + 2],
        data: new Uint8Array(data, at + HEADER, u32[at >> 2]),
      })
    }
    pos = next
  }
}
