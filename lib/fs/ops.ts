// The FUSE operations of logfs that run in TypeScript: the namespace (lookup, create, mkdir, rename, unlink…),
// attributes, open/release and fsync. Writes and reads never come here: the native core answers them on the FUSE
// threads, into the tenant's ring and the file's tail (lib/native/fuse/ops.c). Each op arrives from the native
// core with a request handle and is answered through native.reply*, now or later (fsync waits for the server).
import { native } from '../native/fuse/native'
import type { AttrChanges, Request, RequestHandler } from '../native/fuse/requests'
import type { Intake } from '../ring/intake'
import { globToRegExp } from '../util/glob'
import { log } from '../util/log'
import { EFBIG, EINVAL, EIO, EISDIR, ENOSPC } from '../util/errno'
import { FsError, type DirNode, type FileNode, type Node, S_IFDIR, Tree, type TreeOptions } from './tree'
import { nameErrno } from './names'
import { Journal } from './journal'
import { tenantOf } from '../util/sources'
import type { TenantSettings } from '../config/collection'

const O_ACCMODE = 3
const O_WRONLY = 1
const O_RDWR = 2
const O_TRUNC = 0o1000
const RENAME_NOREPLACE = 1
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
  private refusedNames = 0
  private readonly noShip: RegExp[]
  /** Called after a change to the directory skeleton (directories, owners, modes). */
  onTreeChange: () => void = () => {}

  /** Records the namespace in the memfd a restarted agent takes over. */
  private readonly journal: Journal

  constructor (private readonly intake: Intake, readonly options: FsOptions) {
    this.tree = new Tree(options)
    this.journal = new Journal(this.tree)
    this.tree.onGone = (node) => {
      if (node.kind === 'file') native.fileRemove(node.attr.ino)
      this.journal.gone(node)
    }
    this.noShip = options.noShip.map(globToRegExp)
  }

  /** A fresh start: the namespace as it stands (root, restored skeleton) becomes what a restart takes over. */
  recordAll (): void { this.journal.snapshot() }

  /**
   * A takeover: the namespace the dead agent served, by the inode numbers the kernel holds, with each file's
   * size; then a snapshot of it starts this agent's journal. Throws when the memfd cannot be read.
   */
  restore (): number {
    const saved = Journal.read()
    const files = this.tree.restore(saved.records, saved.inoLimit, id => this.intake.sourceById(id) ?? null)
    for (const f of files) native.fileAdd(f.attr.ino, f.source?.id ?? -1, f.slot, 1)
    this.journal.snapshot()
    return saved.records.size
  }

  stats (): FsStats {
    let files = 0
    let handles = 0
    const walk = (n: Node): void => {
      if (n.kind === 'file') { files++; handles += n.handles; return }
      for (const c of n.children.values()) walk(c)
    }
    walk(this.tree.root)
    const { refusedNames, tailBytes } = native.counts()
    return { files, handles, tailBytes, refusedNames: this.refusedNames + refusedNames }
  }

  /** `name` when the mount accepts it (names.ts); otherwise counts the refusal and throws its errno. */
  private checked (name: string, path?: string): string {
    const errno = nameErrno(name, path)
    if (errno === 0) return name
    this.refusedNames++
    throw new FsError(errno, `${path ?? name}: refused name`)
  }

  /** The attributes of a node as native.reply* take them; a file's size and write mtime are added in C. */
  private static attr (node: Node): [number, number, number, number, number, number, number, number, number] {
    const { ino, mode, uid, gid, atime, mtime, ctime } = node.attr
    const nlink = node.kind === 'file'
      ? node.nlink
      : 2 + [...node.children.values()].filter(c => c.kind === 'dir').length
    return [ino, mode, nlink, uid, gid, node.kind === 'file' ? 0 : BLOCK, atime, mtime, ctime]
  }

  private entry (req: number, node: Node): void {
    node.nlookup++
    native.replyEntry(req, ...LogFs.attr(node))
  }

  /** The one entry point for ops from the native core; an op that throws is answered with its errno. */
  readonly dispatch: RequestHandler = (r) => {
    try {
      if (r.resent && this.doneBefore(r)) return
      this.handle(r)
    } catch (err) {
      if (!(err instanceof FsError)) log('error', 'fs', `unexpected failure: ${(err as Error).stack ?? String(err)}`)
      if (r.req) native.replyErr(r.req, -(err instanceof FsError ? err.errno : EIO))
    }
  }

  /**
   * A request the kernel sent again because the agent that took it died. If that agent made the
   * change before it died (the journal has it), the change is answered as done instead of failing with EEXIST or
   * ENOENT; returns whether it was.
   */
  private doneBefore (r: Request): boolean {
    if (r.op !== 'create' && r.op !== 'mkdir' && r.op !== 'unlink' && r.op !== 'rmdir' && r.op !== 'rename') {
      return false
    }
    const tree = this.tree
    const parent = tree.get(r.parent)
    const existing = parent.kind === 'dir' ? parent.children.get(r.name) : undefined
    switch (r.op) {
      case 'create':
        if (existing?.kind !== 'file') return false
        existing.nlookup++
        existing.handles++
        native.replyCreate(r.req, ...LogFs.attr(existing), existing.attr.ino)
        return true
      case 'mkdir':
        if (existing?.kind !== 'dir') return false
        this.entry(r.req, existing)
        return true
      case 'unlink':
      case 'rmdir':
        if (existing) return false
        native.replyErr(r.req, 0)
        return true
      case 'rename': {
        const to = tree.get(r.newParent)
        if (existing || to.kind !== 'dir' || !to.children.has(r.newName)) return false
        native.replyErr(r.req, 0)
        return true
      }
    }
  }

  private handle (r: Request): void {
    const tree = this.tree
    switch (r.op) {
      case 'lookup':
        return this.entry(r.req, tree.child(tree.dir(r.parent), this.checked(r.name)))
      case 'forget':
        return tree.forget(r.ino, r.nlookup)
      case 'getattr':
        return native.replyAttr(r.req, ...LogFs.attr(tree.get(r.ino)))
      case 'setattr':
        return this.setattr(r.req, tree.get(r.ino), r.set)
      case 'mkdir':
        return this.entry(r.req, this.mkdir(tree.dir(r.parent), r.name, r.mode))
      case 'unlink':
        return this.done(r.req, () => this.remove(tree.dir(r.parent), this.checked(r.name), false))
      case 'rmdir':
        return this.done(r.req, () => {
          this.remove(tree.dir(r.parent), this.checked(r.name), true)
          this.onTreeChange()
        })
      case 'rename':
        return this.done(r.req, () => this.rename(tree.dir(r.parent), r.name, tree.dir(r.newParent), r.newName,
          r.flags))
      case 'open':
        return this.open(r.req, tree.file(r.ino), r.flags)
      case 'create': {
        const file = this.create(tree.dir(r.parent), r.name, r.mode)
        this.journal.write(file, file.parent)
        file.nlookup++
        file.handles++
        return native.replyCreate(r.req, ...LogFs.attr(file), file.attr.ino)
      }
      case 'release':
        return tree.released(tree.file(r.ino))
      case 'fsync':
        return this.fsync(r.req, tree.file(r.ino))
      case 'readdir':
        return this.readdir(r.req, tree.dir(r.ino), r.size, r.offset)
    }
  }

  private done (req: number, fn: () => void): void {
    fn()
    native.replyErr(req, 0)
  }

  private remove (parent: DirNode, name: string, dir: boolean): void {
    const node = this.tree.child(parent, name)
    if (dir) this.tree.rmdir(parent, name)
    else this.tree.unlink(parent, name)
    this.journal.write(node, parent)
  }

  private mkdir (parent: DirNode, name: string, mode: number): DirNode {
    const path = this.tree.path(parent, name)
    const dir = this.tree.mkdir(parent, this.checked(name, path), mode)
    // A directory's tenant is its first component, the tenant directory included.
    const owner = this.options.settings(tenantOf(path.slice(1) + '/')).owner
    if (owner) [dir.attr.uid, dir.attr.gid] = owner
    this.journal.write(dir, parent)
    this.onTreeChange()
    return dir
  }

  private create (parent: DirNode, name: string, mode: number): FileNode {
    const path = this.tree.path(parent, name)
    const rel = path.slice(1)
    this.checked(name, path)
    const source = this.shipped(rel) ? this.stateful(() => this.intake.source(rel)) : null
    const file = this.tree.create(parent, name, mode, source)
    try {
      this.stateful(() => native.fileAdd(file.attr.ino, file.source?.id ?? -1, file.slot, 0))
    } catch (err) {
      this.tree.unlink(parent, name)
      throw err
    }
    return file
  }

  /**
   * Runs something that takes room in the state kept across restarts (lib/native/fuse/state.h: LF_MAX_SOURCES
   * sources, LF_MAX_FILES files at once): when that is full, the application gets ENOSPC and the log says why.
   */
  private stateful<T> (fn: () => T): T {
    try {
      return fn()
    } catch (err) {
      log('error', 'fs', `cannot create a file: ${(err as Error).message}`)
      throw new FsError(ENOSPC, (err as Error).message)
    }
  }

  private rename (from: DirNode, name: string, to: DirNode, newName: string, flags: number): void {
    if (flags & ~RENAME_NOREPLACE) throw new FsError(EINVAL, 'rename: only RENAME_NOREPLACE is supported')
    const node = this.tree.child(from, this.checked(name))
    const replaced = to.children.get(newName)
    this.tree.rename(from, name, to, this.checked(newName, this.tree.path(to, newName)),
      (flags & RENAME_NOREPLACE) !== 0)
    this.journal.write(node, replaced, from, to)
    this.onTreeChange()
  }

  private open (req: number, file: FileNode, flags: number): void {
    if ((flags & O_ACCMODE) !== O_WRONLY && (flags & O_ACCMODE) !== O_RDWR) file.attr.atime = Date.now()
    if (flags & O_TRUNC) this.resize(file, 0)
    file.handles++
    native.replyOpen(req, file.attr.ino)
  }

  private setattr (req: number, node: Node, set: AttrChanges): void {
    const now = Date.now()
    if (set.size !== undefined) {
      if (node.kind !== 'file') throw new FsError(EISDIR, 'cannot truncate a directory')
      this.resize(node, set.size)
    }
    if (set.mode !== undefined) node.attr.mode = (node.attr.mode & ~0o7777) | (set.mode & 0o7777)
    if (set.uid !== undefined) node.attr.uid = set.uid
    if (set.gid !== undefined) node.attr.gid = set.gid
    if (set.atime !== undefined) node.attr.atime = set.atime === 'now' ? now : set.atime
    if (set.mtime !== undefined) node.attr.mtime = set.mtime === 'now' ? now : set.mtime
    node.attr.ctime = now
    this.journal.write(node)
    const owner = set.mode !== undefined || set.uid !== undefined || set.gid !== undefined
    if (node.kind === 'dir' && owner) this.onTreeChange()
    native.replyAttr(req, ...LogFs.attr(node))
  }

  private fsync (req: number, file: FileNode): void {
    if (!file.source) return native.replyErr(req, 0)
    // Durable means acknowledged by the server, so fsync waits for that, within a bound.
    let answered = false
    const timer = setTimeout(() => { answered = true; native.replyErr(req, -EIO) }, this.options.fsyncWaitMs)
    this.intake.whenAcked(file.source.tenant, () => {
      if (answered) return
      clearTimeout(timer)
      native.replyErr(req, 0)
    })
  }

  private readdir (req: number, dir: DirNode, size: number, offset: number): void {
    if (offset === 0) dir.attr.atime = Date.now()
    const nodes: Node[] = [dir, dir.parent ?? dir, ...dir.children.values()]
    const names = ['.', '..', ...dir.children.keys()]
    native.replyDir(req, size, offset, names, Float64Array.from(nodes, n => n.attr.ino),
      Uint32Array.from(nodes, n => n.kind === 'dir' ? S_IFDIR : n.attr.mode))
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
    const errno = native.fileTruncate(file.attr.ino, size, Date.now())
    if (errno) throw new FsError(errno, `${this.tree.path(file)}: cannot truncate`)
    file.attr.mtime = file.attr.ctime = Date.now()
  }
}
