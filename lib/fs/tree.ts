// The in-memory namespace of the mount: directories, files and their attributes, by inode number (which is also
// the FUSE node ID: logfs chooses them, so a restarted agent can answer for them). No bytes are stored here; a
// file's tail, size and mtime of its writes live in the native core (lib/native/fuse/files.c).
import type { Source } from '../ring/intake'
import { EEXIST, EINVAL, EISDIR, ENOENT, ENOTDIR, ENOTEMPTY } from '../util/errno'

export const S_IFDIR = 0o040000
export const S_IFREG = 0o100000

/** The inode number of the root, as FUSE fixes it (FUSE_ROOT_ID). */
export const ROOT_INO = 1

/** An op refused with `errno` (negative, as lib/util/errno.ts states). */
export class FsError extends Error {
  constructor (readonly errno: number, message: string) { super(message) }
}

interface Attr {
  ino: number
  mode: number
  uid: number
  gid: number
  atime: number
  mtime: number
  ctime: number
}

/** What every node has: where it is, and how many references the kernel holds (lookups not yet forgotten). */
abstract class BaseNode {
  nlookup = 0
  /**
   * Served by an agent that died (lib/fs/journal.ts): how many references the kernel holds is not known. The
   * kernel forgets a node once, with everything it holds, when it evicts it; until then it stays.
   */
  restored = false
  constructor (readonly attr: Attr, public name: string, public parent: DirNode | null) {}
}

export class FileNode extends BaseNode {
  readonly kind = 'file'
  nlink = 1
  /** Open handles (the kernel's file handle is the inode number). */
  handles = 0
  constructor (attr: Attr, name: string, parent: DirNode | null, readonly source: Source | null,
    /** Where the native core keeps its size for the next agent (state.h). */
    readonly slot: number) { super(attr, name, parent) }
}

export class DirNode extends BaseNode {
  readonly kind = 'dir'
  readonly children = new Map<string, Node>()
}

export type Node = FileNode | DirNode

/** A node as the namespace journal keeps it (lib/fs/journal.ts); parent 0: removed, still held by the kernel. */
export type NodeRecord = [ino: number, dir: number, parent: number, name: string, mode: number, uid: number,
  gid: number, atime: number, mtime: number, ctime: number, nlink: number, source: number, slot: number]

export interface TreeOptions {
  rootUid: number
  rootGid: number
  rootMode: number
}

export class Tree {
  readonly root: DirNode
  /** Every node the kernel may still name: in the tree, or removed but still looked up or open. */
  private readonly nodes = new Map<number, Node>()
  private nextIno = ROOT_INO
  /** File slots in the state (state.h) free for new files; past `nextSlot` all are. */
  private readonly freeSlots: number[] = []
  private nextSlot = 0
  /** Called when a removed node is no longer referenced by the kernel, so its native entry can go. */
  onGone: (node: Node) => void = () => {}

  constructor (readonly options: TreeOptions) {
    this.root = new DirNode(this.attr(S_IFDIR | options.rootMode, options.rootUid, options.rootGid), '', null)
    this.nodes.set(ROOT_INO, this.root)
  }

  private attr (mode: number, uid: number, gid: number): Attr {
    const now = Date.now()
    return { ino: this.nextIno++, mode, uid, gid, atime: now, mtime: now, ctime: now }
  }

  get (ino: number): Node {
    const node = this.nodes.get(ino)
    if (!node) throw new FsError(ENOENT, `inode ${ino}: not known`)
    return node
  }

  dir (ino: number): DirNode {
    const node = this.get(ino)
    if (node.kind !== 'dir') throw new FsError(ENOTDIR, `${this.path(node)}: not a directory`)
    return node
  }

  file (ino: number): FileNode {
    const node = this.get(ino)
    if (node.kind !== 'file') throw new FsError(EISDIR, `${this.path(node)}: is a directory`)
    return node
  }

  child (dir: DirNode, name: string): Node {
    const node = dir.children.get(name)
    if (!node) throw new FsError(ENOENT, `${this.path(dir, name)}: no such file or directory`)
    return node
  }

  /** The absolute path of a node (or of `name` in it), as it stands now. */
  path (node: Node, name?: string): string {
    const parts: string[] = name === undefined ? [] : [name]
    for (let n: Node | null = node; n && n !== this.root; n = n.parent) parts.push(n.name)
    return '/' + parts.reverse().join('/')
  }

  /** The directory at an absolute path, for the skeleton restored at start. */
  lookupDir (path: string): DirNode {
    let dir = this.root
    for (const name of path.split('/').filter(Boolean)) {
      const next = this.child(dir, name)
      if (next.kind !== 'dir') throw new FsError(ENOTDIR, `${path}: not a directory`)
      dir = next
    }
    return dir
  }

  private touch (dir: DirNode): void {
    dir.attr.mtime = dir.attr.ctime = Date.now()
  }

  // New entries take their owner from the directory they are made in; an administrator chowns a tenant's
  // directory once and everything its applications create is theirs.
  mkdir (parent: DirNode, name: string, mode: number): DirNode {
    if (parent.children.has(name)) throw new FsError(EEXIST, `${this.path(parent, name)}: exists`)
    const dir = new DirNode(this.attr(S_IFDIR | (mode & 0o7777), parent.attr.uid, parent.attr.gid), name, parent)
    parent.children.set(name, dir)
    this.nodes.set(dir.attr.ino, dir)
    this.touch(parent)
    return dir
  }

  create (parent: DirNode, name: string, mode: number, source: Source | null): FileNode {
    if (parent.children.has(name)) throw new FsError(EEXIST, `${this.path(parent, name)}: exists`)
    const attr = this.attr(S_IFREG | (mode & 0o7777), parent.attr.uid, parent.attr.gid)
    const file = new FileNode(attr, name, parent, source, this.freeSlots.pop() ?? this.nextSlot++)
    parent.children.set(name, file)
    this.nodes.set(attr.ino, file)
    this.touch(parent)
    return file
  }

  unlink (parent: DirNode, name: string): void {
    const node = this.child(parent, name)
    if (node.kind === 'dir') throw new FsError(EISDIR, `${this.path(parent, name)}: is a directory`)
    parent.children.delete(name)
    this.detach(node)
    this.touch(parent)
  }

  rmdir (parent: DirNode, name: string): void {
    const node = this.child(parent, name)
    if (node.kind !== 'dir') throw new FsError(ENOTDIR, `${this.path(parent, name)}: not a directory`)
    if (node.children.size > 0) throw new FsError(ENOTEMPTY, `${this.path(parent, name)}: directory not empty`)
    parent.children.delete(name)
    this.detach(node)
    this.touch(parent)
  }

  /** rename(2) semantics: replaces an existing target of the same kind (an empty one, for directories). */
  rename (from: DirNode, fromName: string, to: DirNode, toName: string, noReplace: boolean): void {
    const node = this.child(from, fromName)
    if (node.kind === 'dir') {
      for (let d: DirNode | null = to; d; d = d.parent) {
        if (d === node) throw new FsError(EINVAL, `cannot move ${this.path(node)} into itself`)
      }
    }
    const existing = to.children.get(toName)
    if (existing === node) return
    if (existing) {
      const dest = this.path(to, toName)
      if (noReplace) throw new FsError(EEXIST, `${dest}: exists`)
      if (existing.kind === 'dir' && node.kind !== 'dir') throw new FsError(EISDIR, `${dest}: is a directory`)
      if (existing.kind !== 'dir' && node.kind === 'dir') throw new FsError(ENOTDIR, `${dest}: not a directory`)
      if (existing.kind === 'dir' && existing.children.size > 0) throw new FsError(ENOTEMPTY, `${dest}: not empty`)
      this.detach(existing)
    }
    from.children.delete(fromName)
    to.children.set(toName, node)
    node.parent = to
    node.name = toName
    node.attr.ctime = Date.now()
    this.touch(from)
    this.touch(to)
  }

  /** A node left the namespace; it stays known while the kernel still holds it. */
  private detach (node: Node): void {
    node.parent = null
    node.attr.ctime = Date.now()
    if (node.kind === 'file') node.nlink = 0
    this.dropIfUnused(node)
  }

  /** The kernel dropped `n` references (FUSE forget). */
  forget (ino: number, n: number): void {
    const node = this.nodes.get(ino)
    if (!node || node === this.root) return
    node.nlookup = node.restored ? 0 : Math.max(0, node.nlookup - n)
    node.restored = false
    this.dropIfUnused(node)
  }

  released (file: FileNode): void {
    // A restored file's handles were opened from the dead agent, uncounted here.
    file.handles = Math.max(0, file.handles - 1)
    this.dropIfUnused(file)
  }

  private dropIfUnused (node: Node): void {
    if (node.parent !== null || node.nlookup > 0 || node.restored || (node.kind === 'file' && node.handles > 0)) return
    this.nodes.delete(node.attr.ino)
    if (node.kind === 'file') this.freeSlots.push(node.slot)
    this.onGone(node)
  }

  /** Whether the kernel may still name the node (it was not dropped). */
  has (node: Node): boolean { return this.nodes.get(node.attr.ino) === node }

  /** Every node the kernel may name, for a snapshot of the namespace. */
  all (): IterableIterator<Node> { return this.nodes.values() }

  /** The inode number the next node gets. */
  get inoLimit (): number { return this.nextIno }

  record (node: Node): NodeRecord {
    const { ino, mode, uid, gid, atime, mtime, ctime } = node.attr
    const file = node.kind === 'file' ? node : null
    return [ino, file ? 0 : 1, node.parent?.attr.ino ?? 0, node.name, mode, uid, gid, atime, mtime, ctime,
      file?.nlink ?? 0, file?.source?.id ?? -1, file?.slot ?? -1]
  }

  /**
   * Rebuilds the namespace a dead agent served from its records (in order: a later record of an inode replaces
   * an earlier one; `gone` ones were dropped). Every node is marked restored. Returns the files, for the native
   * core to take back.
   */
  restore (records: Map<number, NodeRecord>, inoLimit: number, sourceOf: (id: number) => Source | null): FileNode[] {
    const files: FileNode[] = []
    for (const [ino, dir, , name, mode, uid, gid, atime, mtime, ctime, nlink, source, slot] of records.values()) {
      const attr = { ino, mode, uid, gid, atime, mtime, ctime }
      const node = ino === ROOT_INO ? this.root
        : dir ? new DirNode(attr, name, null) : new FileNode(attr, name, null, sourceOf(source), slot)
      if (node === this.root) Object.assign(this.root.attr, attr)
      node.restored = node !== this.root
      if (node.kind === 'file') { node.nlink = nlink; files.push(node) }
      this.nodes.set(ino, node)
    }
    for (const [ino, , parent] of records.values()) {
      const node = this.nodes.get(ino)
      const dir = this.nodes.get(parent)
      if (!node || node === this.root || !dir || dir.kind !== 'dir') continue
      node.parent = dir
      dir.children.set(node.name, node)
    }
    this.nextIno = Math.max(this.nextIno, inoLimit)
    const used = new Set(files.map(f => f.slot))
    for (const slot of used) this.nextSlot = Math.max(this.nextSlot, slot + 1)
    for (let slot = this.nextSlot - 1; slot >= 0; slot--) if (!used.has(slot)) this.freeSlots.push(slot)
    return files
  }
}
