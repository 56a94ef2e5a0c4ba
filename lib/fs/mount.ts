// Mounting and unmounting the logfs filesystem, including the clean-up of a mount left stale by a crash.
import { execFile } from 'node:child_process'
import { promises as fsp } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import { native } from '../native/fuse/native'
import { decoding, type RequestHandler } from '../native/fuse/requests'

const run = promisify(execFile)

/**
 * Largest write request: 128 KiB, the kernel's default without FUSE_MAX_PAGES, in both cache modes. One request
 * must always fit in an empty ring with the drop policy's reserve to spare (rings are at least 1 MiB, see
 * records.ts checkRingSize), and larger requests would not make writeback faster: at 150k lines/s they come
 * ~230 times a second.
 */
export const MAX_WRITE = 131072

export type CacheMode = 'writethrough' | 'writeback'

export interface MountOptions {
  /**
   * writeback: the kernel's page cache takes writes, a flusher every flushMs hands them to logfs
   * (docs/cache-modes.md).
   */
  cache: CacheMode
  flushMs: number
  /** The supervisor's /dev/fuse descriptor, or -1 (lib/agent/handover.ts). */
  fuseFd: number
  /** Serve the mount a dead agent served on fuseFd, instead of mounting. */
  takeover: boolean
}

export class MountError extends Error {
  override name = 'MountError'
}

interface MountEntry { type: string, minor: string }

/** The mount at exactly `mnt` according to /proc/self/mountinfo, the last one if several are stacked. */
async function mountAt (mnt: string): Promise<MountEntry | null> {
  const text = await fsp.readFile('/proc/self/mountinfo', 'utf8')
  // mountinfo escapes spaces and the like as octal; compare in the same form.
  const escaped = mnt.replace(/[ \t\n\\]/g, c => '\\' + c.charCodeAt(0).toString(8).padStart(3, '0'))
  let found: MountEntry | null = null
  for (const line of text.split('\n')) {
    const fields = line.split(' ')
    const sep = fields.indexOf('-')
    if (sep < 0 || fields[4] !== escaped) continue
    found = { type: fields[sep + 1], minor: fields[2].split(':')[1] }
  }
  return found
}

/**
 * Answers whether a FUSE mount at `mnt` still has a live server, without ever blocking this process on it. It
 * looks up a name nobody uses rather than the mount point itself: the kernel may answer a stat of the root from
 * its attribute cache for a second after the server died, but an unknown name always goes to the server, which
 * says ENOENT when it is alive.
 */
async function probe (mnt: string): Promise<'live' | 'dead'> {
  const name = path.join(mnt, `.logfs-probe-${process.pid}-${Date.now()}`)
  try {
    await run('stat', ['-c', '%i', name], { timeout: 3000, env: { ...process.env, LC_ALL: 'C' } })
    return 'live'
  } catch (err) {
    return /No such file or directory/.test((err as { stderr?: string }).stderr ?? '') ? 'live' : 'dead'
  }
}

/** Frees a dead or hung FUSE mount: abort its connection if it hangs, then lazily unmount. */
export async function cleanStale (mnt: string): Promise<boolean> {
  const entry = await mountAt(mnt)
  if (entry === null) return false
  if (!entry.type.startsWith('fuse')) throw new MountError(`${mnt} is already a ${entry.type} mount point`)
  if (await probe(mnt) === 'live') {
    throw new MountError(`${mnt} is already mounted by a running filesystem (${entry.type}); unmount it first`)
  }
  await abortAndDetach(mnt, entry)
  return true
}

/**
 * Ends the FUSE connection at `mnt` and detaches the mount, whoever still holds the connection: writers get
 * ENOTCONN instead of waiting. For a handover that cannot be made (lib/agent/handover.ts).
 */
export async function abortMount (mnt: string): Promise<void> {
  const entry = await mountAt(mnt)
  if (entry !== null && entry.type.startsWith('fuse')) await abortAndDetach(mnt, entry)
}

async function abortAndDetach (mnt: string, entry: MountEntry): Promise<void> {
  // A hung server keeps the lazy unmount waiting on its requests; aborting the connection ends them.
  // The control filesystem may not be mounted yet on a fresh host.
  if ((await fsp.readdir('/sys/fs/fuse/connections').catch(() => [])).length === 0) {
    await run('mount', ['-t', 'fusectl', 'none', '/sys/fs/fuse/connections']).catch(() => {})
  }
  await fsp.writeFile(`/sys/fs/fuse/connections/${entry.minor}/abort`, '1').catch(() => {})
  await run('fusermount', ['-uz', mnt]).catch(async () => run('umount', ['-l', mnt]))
}

/** The live mount of this process (one per process: the native core serves one). */
export class Mount {
  private mounted = true
  constructor (readonly mountpoint: string, readonly cache: CacheMode) {}

  /**
   * Writeback mode: resolves once the flusher has ended, the dirty pages written before the call are in the rings
   * (up to `maxMs` for their writes to be answered) and each file's stream ends at a line boundary; later pages
   * are refused. Must come before unmount: no thread of this process may sync a mount it no longer serves.
   */
  async seal (maxMs: number): Promise<void> {
    if (this.cache === 'writeback' && this.mounted) await new Promise<void>(resolve => native.seal(maxMs, resolve))
  }

  /**
   * Writeback mode, before this process hands the mount over and exits: resolves once the flusher has ended. A
   * flusher left inside syncfs() would keep the process from ending, since only the next agent, which starts
   * when this one has ended, would answer the sync's writes.
   */
  async quiesce (): Promise<void> {
    if (this.cache === 'writeback' && this.mounted) await new Promise<void>(resolve => native.quiesce(resolve))
  }

  /** Unmounts lazily: files still open keep being served until they are closed or the process ends. */
  unmount (): void {
    if (!this.mounted) return
    this.mounted = false
    native.unmount()
  }
}

export async function mount (mnt: string, handle: RequestHandler, onData: () => void,
  options: MountOptions): Promise<Mount> {
  // A mount being taken over has nobody answering yet: a stat of it would wait for this very process.
  const st = options.takeover ? null : await fsp.stat(mnt).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOTCONN') return null
    if (err.code === 'ENOENT') throw new MountError(`mount point ${mnt} does not exist`)
    throw new MountError(`mount point ${mnt}: ${err.message}`)
  })
  if (st && !st.isDirectory()) throw new MountError(`mount point ${mnt} is not a directory`)
  const writeback = options.cache === 'writeback'
  try {
    native.mount(mnt, {
      writeback: writeback ? 1 : 0,
      flushMs: options.flushMs,
      fuseFd: options.fuseFd,
      takeover: options.takeover ? 1 : 0,
      maxWrite: MAX_WRITE,
      // The kernel may keep names and attributes for a second, as libfuse's high-level API does by default.
      cacheSeconds: 1,
    }, decoding(handle), onData)
  } catch (err) {
    throw new MountError(`cannot mount ${mnt}: ${(err as Error).message}`)
  }
  return new Mount(mnt, options.cache)
}
