// A tenant's ring: write records in shared memory, filled by the native core on the FUSE threads
// (lib/native/fuse/intake.c), cut into batches and freed here. Layout and readers: records.ts. The memory is the
// memfd the supervisor holds across agents, seen from JS as SharedArrayBuffers.
//
// Positions are monotonic byte counters (never wrapped), so a range [start, end) names the same bytes for as
// long as it is unacknowledged and a resend after a reconnect reads exactly what was sent before.
import { native, type Constants, type Policy, type StatName } from '../native/fuse/native'
import { checkRingSize, layout, nextRecord } from './records'

export class Ring {
  readonly data: SharedArrayBuffer
  readonly control: SharedArrayBuffer
  private readonly counters: Float64Array
  private readonly u32: Uint32Array
  private readonly layout: Constants['ring']
  private readonly ctl: BigInt64Array
  tail: number

  /**
   * A new ring for a tenant, carved from the state the next agent takes over (lib/native/fuse/state.h), that holds
   * `reserve` bytes of its own and borrows the rest up to `capacity`; null when the memfd has no room for it.
   */
  static create (name: string, capacity: number, reserve: number, policy: Policy): Ring | null {
    checkRingSize(capacity, `ring capacity ${capacity}`)
    const index = native.tenantNew(name, capacity, reserve, policy)
    return index < 0 ? null : new Ring(index, capacity, Math.min(reserve, capacity))
  }

  /** The ring with this index in the memfd: a new one, or one a dead agent left, unacknowledged bytes and all. */
  constructor (readonly index: number, readonly capacity: number, readonly reserve: number) {
    [this.data, this.control] = native.tenantBuffers(index)
    this.u32 = new Uint32Array(this.data)
    this.ctl = new BigInt64Array(this.control)
    this.layout = layout()
    this.counters = new Float64Array(this.control, this.layout.ctlSlots * 8, this.layout.statCount)
    this.tail = Number(Atomics.load(this.ctl, this.layout.ctl.tail))
  }

  /** One of the producer's counters; it updates them on the FUSE threads, this reads them without locking. */
  stat (name: StatName): number { return this.counters[this.layout.stat[name]] }

  get head (): number { return Number(Atomics.load(this.ctl, this.layout.ctl.head)) }
  get used (): number { return this.head - this.tail }
  get free (): number { return this.capacity - this.used }
  /** Bytes held past the reserve, on loan from the pool the tenants share. */
  get borrowed (): number { return Number(Atomics.load(this.ctl, this.layout.ctl.borrowed)) }

  /**
   * The producer added bytes since the last `clearAnnouncement`. While this is true it does not tell JS again,
   * so a busy ring costs one wake-up per batch rather than one per write; the shipper clears it when it cuts.
   */
  get announced (): boolean { return Atomics.load(this.ctl, this.layout.ctl.announced) !== 0n }
  clearAnnouncement (): void { Atomics.store(this.ctl, this.layout.ctl.announced, 0n) }

  /**
   * The end of the longest run of whole records from `start` that spans at most `maxBytes` (at least one record),
   * adding the source ids of its records to `sources`.
   */
  cut (start: number, maxBytes: number, sources?: Set<number>): number {
    const head = this.head
    let pos = start
    while (pos < head) {
      const next = nextRecord(this.u32, this.capacity, pos, this.layout)
      if (next - start > maxBytes && pos > start) break
      const at = pos % this.capacity
      const source = this.u32[(at >> 2) + 1]
      if (sources && this.capacity - at >= this.layout.header && source !== this.layout.pad) sources.add(source)
      pos = next
    }
    return pos
  }

  /**
   * Frees everything before `pos`; called when the server has acknowledged it. Its pages are given back first:
   * once the new tail is published the producer may write there again.
   */
  release (pos: number): void {
    if (pos < this.tail || pos > this.head) throw new RangeError(`release(${pos}) outside [${this.tail}, ${this.head}]`)
    const from = this.tail % this.capacity
    const length = pos - this.tail
    const first = Math.min(length, this.capacity - from)
    native.tenantDiscard(this.index, from, first)
    if (length > first) native.tenantDiscard(this.index, 0, length - first)
    this.tail = pos
    Atomics.store(this.ctl, this.layout.ctl.tail, BigInt(pos))
  }
}

