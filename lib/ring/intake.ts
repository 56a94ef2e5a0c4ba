// Where application writes enter logfs: one ring per tenant (top-level directory), so a tenant that floods its
// ring blocks or drops only its own writes. The rings share one budget of bytes held (--memory): each tenant holds
// its reserve, and borrows past it from a pool, up to its ring's size (lib/native/fuse/budget.h). The bytes
// themselves are put in by the native core on the FUSE thread that received the write (lib/native/fuse/intake.c:
// cursors, line cutting for the drop policy, waiting in order for the block policy, borrowing, counters); this
// side makes rings and sources, frees acknowledged space and answers "is everything acknowledged?".
import { Ring } from './ring'
import { claimMemfd } from './memfd'
import { tenantOf } from '../util/sources'
import { native, type Policy } from '../native/fuse/native'

export type FullPolicy = 'block' | 'drop'

/** A source is one log stream: the path a file was created at. Its cursor counts every byte ever written to it. */
export class Source {
  constructor (readonly id: number, readonly path: string, readonly tenant: string) {}
  /** Cursor offset of the next byte; advances on every accepted or dropped write, never goes back. */
  get next (): number { return native.sourceNext(this.id) }
}

export interface TenantStats {
  tenant: string
  ringBytes: number
  ringUsed: number
  /** Bytes the tenant may hold without borrowing, and what it holds on loan from the pool now. */
  ringReserve: number
  ringBorrowed: number
  bytesIn: number
  linesIn: number
  writes: number
  droppedBytes: number
  droppedWrites: number
  blockedWrites: number
  waiting: number
}

/** The pool the tenants borrow from: the budget less every reserve (below zero when the reserves exceed it). */
export interface PoolStats {
  bytes: number
  free: number
}

export interface IntakeOptions {
  /** Bytes of each new ring its tenant holds without borrowing (capped at the ring's size). */
  reserve: number
  /** Ring size and full-ring policy of a tenant; asked when its ring is created, and the policy on every change. */
  settings: (tenant: string) => { ringSize: number, policy: FullPolicy }
}

const policyOf = (p: FullPolicy): Policy => native.constants.policy[p]

export class Tenant {
  /** fsync callers, each waiting for the ring position that was the head when it asked. */
  readonly syncs: Array<{ pos: number, done: () => void }> = []
  constructor (readonly name: string, readonly ring: Ring, public policy: FullPolicy) {}

  /** The native core's handle of this tenant's ring. */
  get index (): number { return this.ring.index }

  /** A snapshot of the counters; the producer updates them on the FUSE threads. */
  get stats (): TenantStats {
    const r = this.ring
    return {
      tenant: this.name, ringBytes: r.capacity, ringUsed: r.used, ringReserve: r.reserve, ringBorrowed: r.borrowed,
      bytesIn: r.stat('bytesIn'), linesIn: r.stat('linesIn'), writes: r.stat('writes'),
      droppedBytes: r.stat('droppedBytes'), droppedWrites: r.stat('droppedWrites'),
      blockedWrites: r.stat('blockedWrites'), waiting: r.stat('waiting'),
    }
  }

  /** Bytes of writes waiting for ring space under the block policy. */
  get waitingBytes (): number { return this.ring.stat('waitingBytes') }
}

/** `write` could not take the bytes: the tenant's ring is full under the block policy (a FUSE thread waits). */
export const FULL = native.constants.ring.full

export class Intake {
  readonly tenants = new Map<string, Tenant>()
  private readonly sources = new Map<string, Source>()
  private readonly byId = new Map<number, Source>()
  /** Called when bytes entered a tenant's ring that nobody was told of yet, so the shipper can schedule a batch. */
  onData: (tenant: Tenant) => void = () => {}
  /** Called once per tenant that could not get a ring: the memfd's tenant table or address space is spent. */
  onNoRing: (tenant: string) => void = () => {}
  private readonly refused = new Set<string>()
  /** The budget of bytes all rings hold, as the memfd has it (a takeover keeps the first agent's). */
  readonly memory: number

  constructor (readonly options: IntakeOptions) {
    // After a takeover the dead agent's rings and sources go on: same indexes, cursors, unacknowledged bytes.
    const state = claimMemfd()
    this.memory = state.memory
    state.tenants.forEach(([name, capacity, policy, reserve], index) => {
      const ring = new Ring(index, capacity, reserve)
      this.tenants.set(name, new Tenant(name, ring, policy === native.constants.policy.drop ? 'drop' : 'block'))
    })
    state.sources.forEach((path, id) => this.remember(new Source(id, path, tenantOf(path))))
    if (state.takeover) this.updatePolicies()
  }

  private remember (s: Source): Source {
    this.sources.set(s.path, s)
    this.byId.set(s.id, s)
    return s
  }

  /** A source by id, as the memfd and the namespace journal name them. */
  sourceById (id: number): Source | undefined { return this.byId.get(id) }

  /** The source for a path: the same object every time, so a file re-created after rotation continues its cursor. */
  source (path: string): Source {
    const s = this.sources.get(path)
    if (s) return s
    const tenant = tenantOf(path)
    return this.remember(new Source(native.sourceNew(this.tenant(tenant)?.index ?? -1, path), path, tenant))
  }

  /** The shared pool, from this intake's tenants (the only ones in an agent's memfd). */
  get pool (): PoolStats {
    let bytes = this.memory
    let free = this.memory
    for (const t of this.tenants.values()) {
      bytes -= t.ring.reserve
      free -= t.ring.reserve + t.ring.borrowed
    }
    return { bytes, free }
  }

  private tenant (name: string): Tenant | undefined {
    let t = this.tenants.get(name)
    if (!t) {
      const { ringSize, policy } = this.options.settings(name)
      const ring = Ring.create(name, ringSize, this.options.reserve, policyOf(policy))
      if (ring) {
        t = new Tenant(name, ring, policy)
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
   * One write from this thread, through the same producer the FUSE threads use: 0 when its bytes are in the ring
   * (or counted as dropped), a negative errno when refused, or FULL when the block policy would make it wait.
   */
  write (source: Source, bytes: Uint8Array): number {
    return native.write(source.id, bytes)
  }

  /** Tells onData about every tenant whose ring got bytes since it was last cut (the producer's announcement). */
  announced (): void {
    for (const t of this.tenants.values()) if (t.ring.announced) this.onData(t)
  }

  /** Frees acknowledged ring space, gives back what it borrowed, and lets blocked writers in (of any tenant). */
  release (t: Tenant, pos: number): void {
    t.ring.release(pos)
    // Always, not only when the waiting counter says so: that counter is a plain double, and a writer that just
    // began to wait may not show in it yet; a missed wake-up would leave it asleep with space free.
    native.tenantWake(t.index)
    while (t.syncs.length > 0 && t.syncs[0].pos <= pos) t.syncs.shift()?.done()
  }

  /** Applies changed settings: a tenant switched to drop lets its waiting writers go (bytes dropped if need be). */
  updatePolicies (): void {
    for (const t of this.tenants.values()) {
      t.policy = this.options.settings(t.name).policy
      native.tenantPolicy(t.index, policyOf(t.policy))
    }
  }

  /** Calls `done` once everything a tenant has accepted so far is acknowledged by the server. */
  whenAcked (tenant: string, done: () => void): void {
    const t = this.tenants.get(tenant)
    if (!t || t.ring.used === 0) return done()
    t.syncs.push({ pos: t.ring.head, done })
  }

  /** Source names for ids, as a batch carries them. */
  names (ids: Iterable<number>): Array<[number, string]> {
    const out: Array<[number, string]> = []
    for (const id of ids) {
      const s = this.byId.get(id)
      if (s) out.push([id, s.path])
    }
    return out
  }

  /** Stop taking new writes (but the rest of a started line); writes already waiting still go in as space frees. */
  close (): void { native.close() }

  /** True when every accepted byte has been acknowledged and nobody waits. */
  get drained (): boolean {
    for (const t of this.tenants.values()) if (t.ring.used > 0 || t.ring.stat('waiting') > 0) return false
    return native.counts().reorderBytes === 0
  }

  /** Bytes accepted but not acknowledged: in rings, waiting for ring space, or waiting for writeback order. */
  pendingBytes (): number {
    let n = native.counts().reorderBytes
    for (const t of this.tenants.values()) n += t.ring.used + t.waitingBytes
    return n
  }

  /** Writers still waiting at shutdown get `errno` (negative: lib/util/errno.ts) instead of hanging forever. */
  failWaiting (errno: number): void {
    for (const t of this.tenants.values()) native.tenantFailWaiting(t.index, -errno)
  }
}
