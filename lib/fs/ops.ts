// The FUSE operations of logfs: POSIX file semantics over the in-memory tree, with every write of a shipped
// file handed to the intake (ring) before the application's write() returns.
import type { Ops, Stat, StatFs } from 'fuse-native'
import { FULL, type Intake } from '../ring/intake'
import { globToRegExp } from '../util/glob'
import { log } from '../util/log'
import { EINVAL, FsError, type FileNode, type Node, Tree, type TreeOptions } from './tree'
import { NAME_MAX, pathErrno } from './names'
import { MAX_WRITE } from './mount'
import { tenantOf } from '../util/sources'
import type { TenantSettings } from '../config/collection'

const EBADF = -9
const EIO = -5
const EFBIG = -27
const O_ACCMODE = 3
const O_WRONLY = 1
const O_RDWR = 2
const BLOCK = 4096

export interface FsOptions extends TreeOptions {
  /** Globs (matched against the path under the mount) of files that are kept in memory but never shipped. */
  noShip: string[]
  /** Per-tenant collection settings (skip/ship globs, directory owner). */
  settings: (tenant: string) => TenantSettings
  /** How long fsync waits for the server to acknowledge a file's bytes before answering EIO. */
  fsyncWaitMs: number
}

export interface FsStats {
  files: number
  handles: number
  tailBytes: number
  /** Calls refused for a name (EILSEQ, ENAMETOOLONG: names.ts); counted, not logged, as applications pick names. */
  refusedNames: number
}

/** Rotated copies and compressed archives repeat bytes that were already shipped under the live name. */
export const DEFAULT_NO_SHIP = ['**.[0-9]', '**.[0-9][0-9]', '**.gz', '**.bz2', '**.xz', '**.zst', '**.zip']

export class LogFs {
  readonly tree: Tree
  private readonly handles = new Map<number, FileNode>()
  private nextHandle = 1
  private refusedNames = 0
  private readonly noShip: RegExp[]
  /** Called after a change to the directory skeleton (directories, owners, modes). */
  onTreeChange: () => void = () => {}

  constructor (private readonly intake: Intake, readonly options: FsOptions) {
    this.tree = new Tree(options)
    this.noShip = options.noShip.map(globToRegExp)
  }

  stats (): FsStats {
    let files = 0
    let tailBytes = 0
    const walk = (n: Node): void => {
      if (n.kind === 'file') { files++; tailBytes += n.tail.held; return }
      for (const c of n.children.values()) walk(c)
    }
    walk(this.tree.root)
    return { files, handles: this.handles.size, tailBytes, refusedNames: this.refusedNames }
  }

  /** `path` when the mount accepts its names (names.ts); otherwise counts the refusal and throws its errno. */
  private checked (path: string, creating = false): string {
    const errno = pathErrno(path, creating)
    if (errno === 0) return path
    this.refusedNames++
    throw new FsError(errno, `${path}: refused name`)
  }

  private open (file: FileNode): number {
    const fd = this.nextHandle++
    this.handles.set(fd, file)
    return fd
  }

  private static stat (node: Node): Stat {
    const { ino, mode, uid, gid, atime, mtime, ctime } = node.attr
    const size = node.kind === 'file' ? node.size : BLOCK
    return {
      ino, mode, uid, gid, size, atime, mtime, ctime,
      nlink: node.kind === 'file' ? node.nlink : 2 + [...node.children.values()].filter(c => c.kind === 'dir').length,
      blksize: MAX_WRITE,
      blocks: Math.ceil(size / 512),
    }
  }

  /** Runs a synchronous tree operation and answers FUSE with 0 or the errno it raised. */
  private static call<T> (cb: (err: number, value?: T) => void, fn: () => T): void {
    let value: T
    try {
      value = fn()
    } catch (err) {
      if (err instanceof FsError) return cb(err.errno)
      log('error', 'fs', `unexpected failure: ${(err as Error).stack ?? String(err)}`)
      return cb(EIO)
    }
    cb(0, value)
  }

  /** Most writes go into the ring at once and need no callback: only one that has to wait for space gets a closure. */
  private write (fd: number, buf: Buffer, len: number, pos: number, cb: (n: number) => void): void {
    const file = this.handles.get(fd)
    if (!file) return cb(EBADF)
    const bytes = buf.subarray(0, len)
    if (file.source) {
      const errno = this.intake.write(file.source, bytes)
      if (errno === FULL) {
        return this.intake.wait(file.source, bytes, (e) => e ? cb(e) : LogFs.written(file, pos, bytes, cb))
      }
      if (errno) return cb(errno)
    }
    LogFs.written(file, pos, bytes, cb)
  }

  /** A write the intake took (or an unshipped file's): it shows in the file, and the application gets its length. */
  private static written (file: FileNode, pos: number, bytes: Buffer, cb: (n: number) => void): void {
    file.tail.write(pos, bytes)
    file.attr.mtime = file.attr.ctime = Date.now()
    cb(bytes.length)
  }

  ops (): Ops {
    const call = LogFs.call
    return {
      statfs: (_path, cb) => {
        // The disk is as large as the server behind it; report the largest sizes FUSE can carry.
        const max = 0xffffffff
        const statfs: StatFs = {
          bsize: BLOCK, frsize: BLOCK, blocks: max, bfree: max, bavail: max, files: max, ffree: max, favail: max,
          fsid: 0, flag: 0, namemax: NAME_MAX,
        }
        cb(0, statfs)
      },
      getattr: (path, cb) => call(cb, () => LogFs.stat(this.tree.lookup(this.checked(path)))),
      fgetattr: (path, fd, cb) =>
        call(cb, () => LogFs.stat(this.handles.get(fd) ?? this.tree.lookup(this.checked(path)))),
      access: (path, _mode, cb) => call(cb, () => { this.tree.lookup(this.checked(path)) }),
      readdir: (path, cb) => {
        try {
          const dir = this.tree.dir(this.checked(path))
          dir.attr.atime = Date.now()
          const names = ['.', '..', ...dir.children.keys()]
          const stats = [LogFs.stat(dir), LogFs.stat(dir.parent ?? dir), ...[...dir.children.values()].map(LogFs.stat)]
          cb(0, names, stats)
        } catch (err) {
          cb(err instanceof FsError ? err.errno : EIO)
        }
      },
      mkdir: (path, mode, cb) => call(cb, () => {
        const dir = this.tree.mkdir(this.checked(path, true), mode)
        // A directory's tenant is its first component, the tenant directory included.
        const owner = this.options.settings(tenantOf(path.slice(1) + '/')).owner
        if (owner) [dir.attr.uid, dir.attr.gid] = owner
        this.onTreeChange()
      }),
      rmdir: (path, cb) => call(cb, () => { this.tree.rmdir(this.checked(path)); this.onTreeChange() }),
      create: (path, mode, cb) => call(cb, () => {
        const rel = this.checked(path, true).slice(1)
        return this.open(this.tree.create(path, mode, this.shipped(rel) ? this.intake.source(rel) : null))
      }),
      open: (path, flags, cb) => call(cb, () => {
        const file = this.tree.file(this.checked(path))
        if ((flags & O_ACCMODE) !== O_WRONLY && (flags & O_ACCMODE) !== O_RDWR) file.attr.atime = Date.now()
        return this.open(file)
      }),
      release: (_path, fd, cb) => { this.handles.delete(fd); cb(0) },
      flush: (_path, _fd, cb) => cb(0),
      fsync: (_path, _datasync, fd, cb) => {
        const file = this.handles.get(fd)
        if (!file) return cb(EBADF)
        if (!file.source) return cb(0)
        // Durable means acknowledged by the server, so fsync waits for that, within a bound.
        let answered = false
        const timer = setTimeout(() => { answered = true; cb(EIO) }, this.options.fsyncWaitMs)
        this.intake.whenAcked(file.source.tenant, () => {
          if (answered) return
          clearTimeout(timer)
          cb(0)
        })
      },
      read: (_path, fd, buf, len, pos, cb) => {
        const file = this.handles.get(fd)
        if (!file) return cb(EBADF)
        cb(file.tail.read(pos, len === buf.length ? buf : buf.subarray(0, len)))
      },
      write: (_path, fd, buf, len, pos, cb) => this.write(fd, buf, len, pos, cb),
      truncate: (path, size, cb) => call(cb, () => this.resize(this.tree.file(this.checked(path)), size)),
      ftruncate: (path, fd, size, cb) =>
        call(cb, () => this.resize(this.handles.get(fd) ?? this.tree.file(this.checked(path)), size)),
      unlink: (path, cb) => call(cb, () => this.tree.unlink(this.checked(path))),
      rename: (src, dest, cb) => call(cb, () => {
        this.tree.rename(this.checked(src), this.checked(dest, true))
        this.onTreeChange()
      }),
      chmod: (path, mode, cb) => call(cb, () => {
        const node = this.tree.lookup(this.checked(path))
        node.attr.mode = (node.attr.mode & ~0o7777) | (mode & 0o7777)
        node.attr.ctime = Date.now()
        if (node.kind === 'dir') this.onTreeChange()
      }),
      chown: (path, uid, gid, cb) => call(cb, () => {
        const node = this.tree.lookup(this.checked(path))
        // uid/gid of -1 mean "leave as is" (they arrive as unsigned 32-bit).
        if (uid !== 0xffffffff) node.attr.uid = uid
        if (gid !== 0xffffffff) node.attr.gid = gid
        node.attr.ctime = Date.now()
        if (node.kind === 'dir') this.onTreeChange()
      }),
      utimens: (path, atime, mtime, cb) => call(cb, () => {
        const node = this.tree.lookup(this.checked(path))
        node.attr.atime = atime
        node.attr.mtime = mtime
        node.attr.ctime = Date.now()
      }),
    }
  }

  /** Whether a file created at `rel` is shipped: not a rotated copy, not skipped, and wanted if a list is given. */
  private shipped (rel: string): boolean {
    if (this.noShip.some(re => re.test(rel))) return false
    const s = this.options.settings(tenantOf(rel))
    if (s.skip?.some(re => re.test(rel))) return false
    return s.ship === undefined || s.ship.some(re => re.test(rel))
  }

  private resize (file: FileNode, size: number): void {
    if (size < 0) throw new FsError(EINVAL, 'negative size')
    if (size > Number.MAX_SAFE_INTEGER) throw new FsError(EFBIG, 'size too large')
    // Truncation changes what the file shows, not the stream: the cursor keeps counting written bytes.
    file.tail.truncate(size)
    file.attr.mtime = file.attr.ctime = Date.now()
  }
}
