// The one typed interface to the agent's native core (the C beside this file, built by bin/logfs-setup): the FUSE
// session on libfuse 3's low-level API, the ring producer and the files' tails, which fs/ and ring/ use.
import path from 'node:path'

/** The ops C hands to JavaScript (session.h, enum lf_op). Writes, reads, flush and statfs never come here. */
export const enum Op {
  Lookup = 1, Forget, Getattr, Setattr, Mkdir, Unlink, Rmdir, Rename, Open, Create, Release, Fsync, Readdir,
}

/** setattr's `valid` bits (session.h, enum lf_set). */
export const enum SetAttr {
  Mode = 1 << 0, Uid = 1 << 1, Gid = 1 << 2, Size = 1 << 3, Atime = 1 << 4, Mtime = 1 << 5,
  AtimeNow = 1 << 7, MtimeNow = 1 << 8,
}

/**
 * One op from a FUSE thread. `req` names the request for the reply functions (0: answered already). The meaning
 * of ino2, name2 and a..g depends on the op; session.h (struct lf_call) lists them.
 */
export type Dispatch = (op: Op, req: number, ino: number, name: string | null, ino2: number, name2: string | null,
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
  /**
   * Names refused as not UTF-8, writes and reads answered in C, bytes held in tails, and writeback bytes that came
   * ahead of the bytes before them (accepted, not yet in a ring: see writeback.h).
   */
  counts (): [refusedNames: number, writes: number, reads: number, tailBytes: number, reorderBytes: number]

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
  /** The producer, from the JS thread: 0, a negative errno, or constants.FULL (it never waits here). */
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
  readonly constants: { HEADER: number, CONTROL_BYTES: number, CTL_SLOTS: number, FULL: number }
}

export const enum Policy { Block = 0, Drop = 1 }

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
