// Mounting and unmounting the logfs filesystem, including the clean-up of a mount left stale by a crash.
import Fuse, { type Ops } from 'fuse-native'
import { execFile } from 'node:child_process'
import { promises as fsp } from 'node:fs'
import { promisify } from 'node:util'

const run = promisify(execFile)

/** Largest write request the kernel may send; 128 KiB is the libfuse 2 / kernel ceiling. */
export const MAX_WRITE = 131072

/**
 * fuse-native builds the `-o` option string itself and has no setting for large writes, so every write would
 * arrive in 4 KiB pieces. This subclass extends that option string with `big_writes,max_write=131072`
 * (the libfuse 2 spellings), which is the one place fuse-native meant options to come from.
 */
class LogFuse extends Fuse {
  protected override _fuseOptions (): string {
    const base = super._fuseOptions()
    const extra = `big_writes,max_write=${MAX_WRITE}`
    return base ? `${base},${extra}` : `-o${extra}`
  }
}

export interface MountOptions {
  /** Milliseconds an op may take before fuse-native answers ETIMEDOUT; writes waiting for ring space are exempt. */
  opTimeoutMs: number
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

/** Answers whether a FUSE mount at `mnt` still has a live server, without ever blocking this process on it. */
async function probe (mnt: string): Promise<'live' | 'dead'> {
  try {
    await run('stat', ['-c', '%i', mnt], { timeout: 3000 })
    return 'live'
  } catch {
    return 'dead'
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
  // A hung server keeps the lazy unmount waiting on its requests; aborting the connection ends them.
  // The control filesystem may not be mounted yet on a fresh host.
  if ((await fsp.readdir('/sys/fs/fuse/connections').catch(() => [])).length === 0) {
    await run('mount', ['-t', 'fusectl', 'none', '/sys/fs/fuse/connections']).catch(() => {})
  }
  await fsp.writeFile(`/sys/fs/fuse/connections/${entry.minor}/abort`, '1').catch(() => {})
  await run('fusermount', ['-uz', mnt]).catch(async () => run('umount', ['-l', mnt]))
  return true
}

export async function mount (mnt: string, ops: Ops, options: MountOptions): Promise<Fuse> {
  const st = await fsp.stat(mnt).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOTCONN') return null
    if (err.code === 'ENOENT') throw new MountError(`mount point ${mnt} does not exist`)
    throw new MountError(`mount point ${mnt}: ${err.message}`)
  })
  if (st && !st.isDirectory()) throw new MountError(`mount point ${mnt} is not a directory`)
  const fuse = new LogFuse(mnt, ops, {
    allowOther: true,
    defaultPermissions: true,
    fsname: 'logfs',
    subtype: 'logfs',
    timeout: { default: options.opTimeoutMs, write: false, fsync: false },
  })
  await new Promise<void>((resolve, reject) => fuse.mount(err => {
    if (err) reject(new MountError(`cannot mount ${mnt}: ${err.message}`))
    else resolve()
  }))
  return fuse
}

export async function unmount (fuse: Fuse): Promise<void> {
  await new Promise<void>((resolve, reject) => fuse.unmount(err => err ? reject(err) : resolve()))
}
