// The one typed interface to the agent's native core (the C beside this file, built by bin/logfs-setup): the FUSE
// session on libfuse 3's low-level API, the ring producer and the files' tails, which fs/ and ring/ use.
import path from 'node:path'

/** The ops C hands to JavaScript, by name (session.h, enum lf_op). Writes, reads, flush and statfs never come here. */
export const OP_NAMES = ['lookup', 'forget', 'getattr', 'setattr', 'mkdir', 'unlink', 'rmdir', 'rename', 'open',
  'create', 'release', 'fsync', 'readdir'] as const
export type OpName = typeof OP_NAMES[number]

/** setattr's `valid` bits, by name (session.h, enum lf_set). */
export const SET_ATTR_NAMES = ['mode', 'uid', 'gid', 'size', 'atime', 'mtime', 'atimeNow', 'mtimeNow'] as const

/** The producer's counters in a ring's control block, by name (intake.h, enum lf_stat). */
export const STAT_NAMES = ['bytesIn', 'linesIn', 'writes', 'droppedBytes', 'droppedWrites', 'blockedWrites',
  'waiting', 'waitingBytes'] as const
export type StatName = typeof STAT_NAMES[number]

/** The control block's int64 slots, by name (intake.h, enum lf_ctl). */
export const CTL_NAMES = ['head', 'tail', 'announced', 'borrowed'] as const

/** A full ring's policies (intake.h, enum lf_policy). */
export const POLICY_NAMES = ['block', 'drop'] as const
export type PolicyName = typeof POLICY_NAMES[number]
/** A policy as C takes it: a value of `constants.policy`. */
export type Policy = number

/** The agent <-> supervisor protocol (lib/native/protocol.h; lib/native/supervisor/README.md describes it). */
export interface Protocol {
  /** The descriptors an agent is started with, by number. */
  channelFd: number
  fuseFd: number
  stateFd: number
  /** Exit codes the supervisor acts on: start the next agent at once, on the same descriptors or on fresh ones. */
  exitHandedOver: number
  exitRenew: number
  /** Environment names: the held descriptors, renewals so far, the cursor generation floor, the log level. */
  envFuseFd: string
  envStateFd: string
  envRenewals: string
  envGenFloor: string
  envLogLevel: string
  /** The signal that asks an agent to hand over. */
  signalHandOver: NodeJS.Signals
  /** Events on the channel (agent → supervisor), then the supervisor's own under --json. */
  eventMounted: string
  eventStopping: string
  eventRestarting: string
  eventHandedOver: string
}

/**
 * The values C was built with (constants.c): TypeScript reads these and never writes them down again.
 * test/contract.test.ts checks the names on both sides are the same.
 */
export interface Constants {
  ring: {
    /** Bytes of a record's header, and the source id of a record that pads to the end of the ring. */
    header: number
    pad: number
    /** Bytes of a ring's control block: ctlSlots int64 slots, then statCount doubles. */
    controlBytes: number
    ctlSlots: number
    statCount: number
    /** write(): the ring is full under the block policy (JS never waits). */
    full: number
    ctl: Record<typeof CTL_NAMES[number], number>
    stat: Record<StatName, number>
  }
  policy: Record<PolicyName, Policy>
  op: Record<OpName, number>
  setAttr: Record<typeof SET_ATTR_NAMES[number], number>
  protocol: Protocol
}

/** The C side's counters (session.h, files.h). */
export interface Counts {
  /** Names refused as not UTF-8. */
  refusedNames: number
  /** Writes and reads answered in C. */
  writes: number
  reads: number
  /** Bytes held in the files' tails. */
  tailBytes: number
  /** Writeback bytes that came ahead of the bytes before them (accepted, not yet in a ring: see writeback.h). */
  reorderBytes: number
}

/**
 * One op from a FUSE thread, as the binding passes it. `req` names the request for the reply functions (0:
 * answered already). The meaning of ino2, name2 and a..g depends on the op; session.h (struct lf_call) lists them.
 * Only requests.ts reads it: everything else takes the decoded Request.
 */
export type Dispatch = (op: number, req: number, ino: number, name: string | null, ino2: number, name2: string | null,
  a: number, b: number, c: number, d: number, e: number, f: number, g: number, resent: number) => void

export interface MountSettings {
  /** 1: the kernel's writeback cache, with a flusher every flushMs. */
  writeback: number
  /** The supervisor's /dev/fuse descriptor (-1: none; libfuse mounts itself and a restart breaks open files). */
  fuseFd: number
  /** 1: the mount exists and a dead agent served it; this one answers for it (state.h). */
  takeover: number
  flushMs: number
  maxWrite: number
  /** Seconds the kernel may cache names and attributes. */
  cacheSeconds: number
}

/** ino, mode, nlink, uid, gid, size, atime, mtime, ctime (ms); a file's size and mtime are filled in by C. */
type Attr = [ino: number, mode: number, nlink: number, uid: number, gid: number, size: number,
  atime: number, mtime: number, ctime: number]

export interface NativeCore {
  /** Mounts and serves on libfuse threads; throws with the reason. One mount per process. */
  mount (mountpoint: string, settings: MountSettings, dispatch: Dispatch, onData: () => void): void
  unmount (): void
  /**
   * Writeback mode, a stop's first step, off the JS thread: ends the flusher, brings the dirty pages written before
   * the call into the rings (waiting up to maxMs for their writes to be answered), and ends each file's stream at
   * a line boundary, refusing later pages; then calls `done` (session.h, lf_session_seal).
   */
  seal (maxMs: number, done: () => void): void
  /** Writeback mode, before a handover: ends the flusher off the JS thread, then calls `done` (lf_session_quiesce). */
  quiesce (done: () => void): void
  counts (): Counts

  replyErr (req: number, errno: number): void
  replyEntry (req: number, ...attr: Attr): void
  replyAttr (req: number, ...attr: Attr): void
  replyCreate (req: number, ...attrAndHandle: [...Attr, fh: number]): void
  replyOpen (req: number, fh: number): void
  replyDir (req: number, size: number, offset: number, names: string[], inos: Float64Array, modes: Uint32Array): void

  /**
   * Opens the state a restarted agent takes over (state.h): the supervisor's memory file, or a
   * private one (fd -1). Once per process; throws with the reason when the state cannot be used.
   */
  stateOpen (fd: number, memory: number, tailBytes: number): StateFound
  /** Records the cursor generation the state's sources go on with. */
  stateGen (gen: number): void
  /** The live namespace snapshot and the journal records after it (lib/fs/journal.ts). */
  metaRead (): [snapshot: Buffer, journal: Buffer]
  /** Appends a journal record; false when full (write a snapshot then). */
  metaAppend (record: Uint8Array): boolean
  /** Replaces snapshot and journal with `snapshot` at once; false when it does not fit. */
  metaSnapshot (snapshot: Uint8Array): boolean

  /**
   * A tenant's ring, carved from the state, holding up to `reserve` bytes of its own and the rest (to `capacity`)
   * borrowed from the budget's pool (budget.h); its index, or -1 when the state has no room for it.
   */
  tenantNew (name: string, capacity: number, reserve: number, policy: Policy): number
  /** The ring's data and control block, shared with C and with the shipping workers. */
  tenantBuffers (tenant: number): [data: SharedArrayBuffer, control: SharedArrayBuffer]
  /** Gives back the whole pages of [from, from + length) of the ring's data: acknowledged bytes only. */
  tenantDiscard (tenant: number, from: number, length: number): void
  tenantPolicy (tenant: number, policy: Policy): void
  /** Wakes writers waiting for ring space, after the tail moved. */
  tenantWake (tenant: number): void
  tenantFailWaiting (tenant: number, errno: number): void
  /** A new source in a tenant (-1: the tenant has no ring, its writes fail with ENOSPC); returns its id. */
  sourceNew (tenant: number, path: string): number
  sourceNext (source: number): number
  /** The producer, from the JS thread: 0, a negative errno, or constants.ring.full (it never waits here). */
  write (source: number, bytes: Uint8Array): number
  /** Stop taking writes, except the rest of a started line. */
  close (): void

  /**
   * The write path's view of a file: its source (-1: not shipped) and its slot in the state, which holds its size
   * and its tail (of the state's tail size); `restore` 1 takes back what a dead agent left there.
   */
  fileAdd (ino: number, source: number, slot: number, restore: number): void
  fileRemove (ino: number): void
  fileTruncate (ino: number, size: number, nowMs: number): number
  fileSize (ino: number): number

  /**
   * Replaces this process with the program `file` (execv, argv[0] = file), keeping its pid; throws with the
   * reason if it cannot. Whatever this process still had to write must be out first.
   */
  exec (file: string, args: string[]): never
  readonly constants: Constants
}

/** What stateOpen found: with `takeover`, the rings and sources of a dead agent, by index. */
export interface StateFound {
  takeover: number
  gen: number
  /** Agents that took this state over so far. */
  takeovers: number
  /** The budget of bytes all rings hold together: the first agent's --memory, kept by a takeover. */
  memory: number
  tenants: Array<[name: string, capacity: number, policy: Policy, reserve: number]>
  /** Each source's path, by id. */
  sources: string[]
}

/** Where bin/logfs-setup builds the addon, from dist/lib/native/fuse/ (this file, compiled) or lib/native/fuse/. */
const ADDON_DIR = __dirname.includes(`${path.sep}dist${path.sep}`) ? '../../../../lib/native/fuse' : '.'
const ADDON = path.resolve(__dirname, ADDON_DIR, 'build/Release/logfs_native.node')

function load (): NativeCore {
  try {
    const addon = { exports: {} }
    process.dlopen(addon, ADDON)
    return addon.exports as NativeCore
  } catch (err) {
    throw new Error(`the logfs native core is not built (${ADDON}: ${(err as Error).message.split('\n')[0]}); `
      + 'run bin/logfs-setup, which needs the apt packages build-essential python3 pkg-config libfuse3-dev')
  }
}

let core: NativeCore | null = null

/** Loaded on first use, so commands that mount nothing (`logfs server`, queries) run without the addon. */
export const native: NativeCore = new Proxy({} as NativeCore, {
  get: (_target, key: keyof NativeCore) => (core ??= load())[key],
})
