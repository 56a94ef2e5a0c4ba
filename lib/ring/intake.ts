// Where application writes enter logfs: one ring per tenant (top-level directory), carved from a fixed memory
// budget, so a tenant that floods its ring blocks or drops only its own writes.
import { Ring } from './ring'
import { tenantOf } from '../util/sources'
import { NL } from '../util/bytes'

export type FullPolicy = 'block' | 'drop'

/** A source is one log stream: the path a file was created at. Its cursor counts every byte ever written to it. */
export interface Source {
  readonly id: number
  readonly path: string
  readonly tenant: string
  /** Cursor offset of the next byte; advances on every accepted or dropped write, never goes back. */
  next: number
  /** Drop policy: the last accepted byte ended a line (or nothing was accepted yet). */
  lineEnded: boolean
  /** Drop policy: the start of the current line was dropped, so its rest is dropped too. */
  skipping: boolean
}

export interface TenantStats {
  tenant: string
  ringBytes: number
  ringUsed: number
  bytesIn: number
  linesIn: number
  writes: number
  droppedBytes: number
  droppedWrites: number
  blockedWrites: number
  waiting: number
}

export interface IntakeOptions {
  memory: number
  /** Ring size and full-ring policy of a tenant; asked when its ring is created, and the policy on every change. */
  settings: (tenant: string) => { ringSize: number, policy: FullPolicy }
}

interface Waiting {
  source: Source
  bytes: Uint8Array
  done: (errno: number) => void
}

export class Tenant {
  readonly waiting: Waiting[] = []
  /** fsync callers, each waiting for the ring position that was the head when it asked. */
  readonly syncs: Array<{ pos: number, done: () => void }> = []
  /** Ids of sources with records in the ring, with the position just past their newest record. */
  readonly sourcesAt = new Map<number, number>()
  readonly stats: TenantStats

  constructor (readonly name: string, readonly ring: Ring, public policy: FullPolicy) {
    this.stats = {
      tenant: name, ringBytes: ring.capacity, ringUsed: 0, bytesIn: 0, linesIn: 0, writes: 0,
      droppedBytes: 0, droppedWrites: 0, blockedWrites: 0, waiting: 0,
    }
  }
}

export const ENOSPC = -28
export const EROFS = -30
/** `write` could not take the bytes yet: the tenant's ring is full under the block policy (see `wait`). */
export const FULL = 1

export class Intake {
  readonly tenants = new Map<string, Tenant>()
  private readonly sources = new Map<string, Source>()
  private readonly byId: Source[] = []
  private closed = false
  /** Called after bytes enter a tenant's ring, so the shipper can schedule a batch. */
  onData: (tenant: Tenant) => void = () => {}
  /** Called once per tenant that could not get a ring because the memory budget is spent. */
  onNoRing: (tenant: string) => void = () => {}
  private readonly refused = new Set<string>()

  constructor (readonly options: IntakeOptions) {}

  /** The source for a path: the same object every time, so a file re-created after rotation continues its cursor. */
  source (path: string): Source {
    let s = this.sources.get(path)
    if (!s) {
      s = { id: this.byId.length, path, tenant: tenantOf(path), next: 0, lineEnded: true, skipping: false }
      this.sources.set(path, s)
      this.byId.push(s)
    }
    return s
  }

  sourceById (id: number): Source { return this.byId[id] }

  /** Bytes of the memory budget given to rings so far. */
  get allocated (): number {
    let n = 0
    for (const t of this.tenants.values()) n += t.ring.capacity
    return n
  }

  private tenant (name: string): Tenant | undefined {
    let t = this.tenants.get(name)
    if (!t) {
      const { ringSize, policy } = this.options.settings(name)
      if (this.allocated + ringSize <= this.options.memory) {
        t = new Tenant(name, new Ring(ringSize), policy)
        this.tenants.set(name, t)
      }
    }
    if (!t && !this.refused.has(name)) {
      this.refused.add(name)
      this.onNoRing(name)
    }
    return t
  }

  /**
   * Takes one write: 0 when its bytes are in the ring (or counted as dropped), a negative errno when it is refused,
   * or FULL when it has to wait for acknowledgements to free space; the caller then hands it to `wait` at once.
   * Answering on the spot, rather than through a callback, spares the FUSE thread a closure per write.
   */
  write (source: Source, bytes: Uint8Array): number {
    // After a stop began, a write that continues an unfinished line still goes in: the kernel splits a write()
    // that crosses a page into two requests, and refusing the second would store half a line the application
    // was told (by a short write) it had written.
    if (this.closed && source.lineEnded) return EROFS
    const t = this.tenant(source.tenant)
    if (!t) return ENOSPC
    t.stats.writes++
    if (t.policy === 'drop') {
      this.writeOrDrop(t, source, bytes)
      return 0
    }
    if (t.waiting.length === 0 && this.accept(t, source, bytes, 0)) return 0
    return FULL
  }

  /**
   * Queues a write that `write` answered FULL: `done(0)` once its bytes are in the ring (or counted as dropped),
   * or an errno if the agent stops first. Writes of a tenant are accepted in arrival order.
   */
  wait (source: Source, bytes: Uint8Array, done: (errno: number) => void): void {
    const t = this.tenants.get(source.tenant)
    if (!t) throw new Error(`wait() for tenant ${source.tenant}, which has no ring: write() did not answer FULL`)
    t.stats.blockedWrites++
    t.waiting.push({ source, bytes, done })
    t.stats.waiting = t.waiting.length
  }

  /**
   * The drop policy, line by line: the kernel may split one write() into several requests, so a full ring could
   * cut a line in two. A reserve at the end of the ring lets a started line finish, and after a drop the rest of
   * the cut line is dropped too, so what arrives is whole lines and the cursor gap is exactly what was dropped.
   */
  private writeOrDrop (t: Tenant, source: Source, bytes: Uint8Array): void {
    const before = t.stats.droppedBytes
    this.acceptOrDrop(t, source, bytes)
    // One write counts once, however many pieces of it were dropped.
    if (t.stats.droppedBytes > before) t.stats.droppedWrites++
  }

  private acceptOrDrop (t: Tenant, source: Source, bytes: Uint8Array): void {
    if (source.skipping) {
      const nl = bytes.indexOf(NL)
      if (nl < 0) return this.drop(t, source, bytes)
      this.drop(t, source, bytes.subarray(0, nl + 1))
      source.skipping = false
      bytes = bytes.subarray(nl + 1)
      if (bytes.length === 0) return
    }
    const reserve = t.ring.capacity >> 4
    if (this.accept(t, source, bytes, reserve)) return
    if (!source.lineEnded) {
      const nl = bytes.indexOf(NL)
      const rest = nl < 0 ? bytes.length : nl + 1
      if (this.accept(t, source, bytes.subarray(0, rest), 0)) bytes = bytes.subarray(rest)
      if (bytes.length === 0) return
    }
    this.drop(t, source, bytes)
    source.skipping = bytes[bytes.length - 1] !== NL
  }

  private drop (t: Tenant, source: Source, bytes: Uint8Array): void {
    source.next += bytes.length
    t.stats.droppedBytes += bytes.length
  }

  /** Copies a write into the ring if it fits with `reserve` bytes to spare. */
  private accept (t: Tenant, source: Source, bytes: Uint8Array, reserve: number): boolean {
    const ring = t.ring
    const max = ring.maxRecordData
    let end = ring.head
    for (let at = 0; at < bytes.length; at += max) end = ring.endAfter(end, Math.min(max, bytes.length - at))
    if (end - ring.head + reserve > ring.free) return false
    const now = Date.now()
    for (let at = 0; at < bytes.length; at += max) {
      const chunk = bytes.subarray(at, Math.min(bytes.length, at + max))
      if (!ring.tryWrite(source.id, source.next, now, chunk)) throw new Error('ring space accounting is wrong')
      source.next += chunk.length
    }
    if (bytes.length > 0) {
      const last = bytes.length - 1
      source.lineEnded = bytes[last] === NL
      // The last byte was just looked at: the count takes it from there and searches only before it, which spares
      // most writes (one line, newline-terminated) a second search that would find nothing.
      let lines = source.lineEnded ? 1 : 0
      for (let nl = bytes.indexOf(NL); nl >= 0 && nl < last; nl = bytes.indexOf(NL, nl + 1)) lines++
      t.stats.linesIn += lines
    }
    t.sourcesAt.set(source.id, ring.head)
    t.stats.bytesIn += bytes.length
    t.stats.ringUsed = ring.used
    this.onData(t)
    return true
  }

  /** Frees acknowledged ring space and lets blocked writers in. */
  release (t: Tenant, pos: number): void {
    t.ring.release(pos)
    for (const [id, at] of t.sourcesAt) if (at <= pos) t.sourcesAt.delete(id)
    while (t.waiting.length > 0) {
      const w = t.waiting[0]
      if (!this.accept(t, w.source, w.bytes, 0)) break
      t.waiting.shift()
      w.done(0)
    }
    t.stats.waiting = t.waiting.length
    t.stats.ringUsed = t.ring.used
    while (t.syncs.length > 0 && t.syncs[0].pos <= pos) t.syncs.shift()?.done()
  }

  /**
   * Applies changed settings: a tenant switched to drop lets its waiting writers go (their bytes dropped if need be).
   */
  updatePolicies (): void {
    for (const t of this.tenants.values()) {
      t.policy = this.options.settings(t.name).policy
      if (t.policy !== 'drop') continue
      for (const w of t.waiting.splice(0)) {
        this.writeOrDrop(t, w.source, w.bytes)
        w.done(0)
      }
      t.stats.waiting = 0
    }
  }

  /** Calls `done` once everything a tenant has accepted so far is acknowledged by the server. */
  whenAcked (tenant: string, done: () => void): void {
    const t = this.tenants.get(tenant)
    if (!t || t.ring.used === 0) return done()
    t.syncs.push({ pos: t.ring.head, done })
  }

  /** Source names for the ids that have records in [start, ...) of a tenant's ring. */
  namesFrom (t: Tenant, start: number): Array<[number, string]> {
    const out: Array<[number, string]> = []
    for (const [id, at] of t.sourcesAt) if (at > start) out.push([id, this.byId[id].path])
    return out
  }

  /** Stop taking new writes (but the rest of a started line); writes already waiting still go in as space frees. */
  close (): void { this.closed = true }

  /** True when every accepted byte has been acknowledged and nobody waits. */
  get drained (): boolean {
    for (const t of this.tenants.values()) if (t.ring.used > 0 || t.waiting.length > 0) return false
    return true
  }

  pendingBytes (): number {
    let n = 0
    for (const t of this.tenants.values()) {
      n += t.ring.used
      for (const w of t.waiting) n += w.bytes.length
    }
    return n
  }

  /** Writers still waiting at shutdown get an error instead of hanging forever. */
  failWaiting (errno: number): void {
    for (const t of this.tenants.values()) {
      for (const w of t.waiting.splice(0)) w.done(errno)
      t.stats.waiting = 0
    }
  }
}
