// The in-memory namespace of the mount: directories, files and their attributes. No bytes are stored here
// beyond each file's recent tail; the log stream itself lives in the rings and on the server.
import type { Source } from '../ring/intake'
import { TailBuffer } from './tail'

export const S_IFDIR = 0o040000
export const S_IFREG = 0o100000

export const ENOENT = -2
export const EEXIST = -17
export const ENOTDIR = -20
export const EISDIR = -21
export const EINVAL = -22
export const ENOTEMPTY = -39
export const EACCES = -13
export const ENAMETOOLONG = -36
export const EILSEQ = -84

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

export class FileNode {
  readonly kind = 'file'
  nlink = 1
  constructor (readonly attr: Attr, readonly tail: TailBuffer, public source: Source | null) {}
  get size (): number { return this.tail.size }
}

export class DirNode {
  readonly kind = 'dir'
  readonly children = new Map<string, Node>()
  constructor (readonly attr: Attr, public parent: DirNode | null) {}
}

export type Node = FileNode | DirNode

export interface TreeOptions {
  rootUid: number
  rootGid: number
  rootMode: number
  tailBytes: number
}

export class Tree {
  readonly root: DirNode
  private nextIno = 1

  constructor (readonly options: TreeOptions) {
    this.root = new DirNode(this.attr(S_IFDIR | options.rootMode, options.rootUid, options.rootGid), null)
  }

  private attr (mode: number, uid: number, gid: number): Attr {
    const now = Date.now()
    return { ino: this.nextIno++, mode, uid, gid, atime: now, mtime: now, ctime: now }
  }

  /** Splits a FUSE path (always absolute, already normalised by the kernel) into its names. */
  static parts (path: string): string[] {
    return path === '/' ? [] : path.slice(1).split('/')
  }

  lookup (path: string): Node {
    let node: Node = this.root
    for (const name of Tree.parts(path)) {
      if (node.kind !== 'dir') throw new FsError(ENOTDIR, `${path}: not a directory`)
      const next = node.children.get(name)
      if (!next) throw new FsError(ENOENT, `${path}: no such file or directory`)
      node = next
    }
    return node
  }

  dir (path: string): DirNode {
    const node = this.lookup(path)
    if (node.kind !== 'dir') throw new FsError(ENOTDIR, `${path}: not a directory`)
    return node
  }

  file (path: string): FileNode {
    const node = this.lookup(path)
    if (node.kind !== 'file') throw new FsError(EISDIR, `${path}: is a directory`)
    return node
  }

  /** The parent directory of `path` and the last name in it. */
  private split (path: string): [DirNode, string] {
    const parts = Tree.parts(path)
    const name = parts.pop()
    if (name === undefined) throw new FsError(EINVAL, 'the root has no parent')
    return [this.dir('/' + parts.join('/')), name]
  }

  private touch (dir: DirNode): void {
    dir.attr.mtime = dir.attr.ctime = Date.now()
  }

  // fuse-native does not tell us who called, so new entries take their owner from the directory they are made
  // in; an administrator chowns a tenant's directory once and everything its applications create is theirs.
  mkdir (path: string, mode: number): DirNode {
    const [parent, name] = this.split(path)
    if (parent.children.has(name)) throw new FsError(EEXIST, `${path}: exists`)
    const dir = new DirNode(this.attr(S_IFDIR | (mode & 0o7777), parent.attr.uid, parent.attr.gid), parent)
    parent.children.set(name, dir)
    this.touch(parent)
    return dir
  }

  create (path: string, mode: number, source: Source | null): FileNode {
    const [parent, name] = this.split(path)
    if (parent.children.has(name)) throw new FsError(EEXIST, `${path}: exists`)
    const attr = this.attr(S_IFREG | (mode & 0o7777), parent.attr.uid, parent.attr.gid)
    const file = new FileNode(attr, new TailBuffer(this.options.tailBytes), source)
    parent.children.set(name, file)
    this.touch(parent)
    return file
  }

  unlink (path: string): void {
    const [parent, name] = this.split(path)
    const node = parent.children.get(name)
    if (!node) throw new FsError(ENOENT, `${path}: no such file`)
    if (node.kind === 'dir') throw new FsError(EISDIR, `${path}: is a directory`)
    parent.children.delete(name)
    node.nlink = 0
    node.attr.ctime = Date.now()
    this.touch(parent)
  }

  rmdir (path: string): void {
    const [parent, name] = this.split(path)
    const node = parent.children.get(name)
    if (!node) throw new FsError(ENOENT, `${path}: no such directory`)
    if (node.kind !== 'dir') throw new FsError(ENOTDIR, `${path}: not a directory`)
    if (node.children.size > 0) throw new FsError(ENOTEMPTY, `${path}: directory not empty`)
    parent.children.delete(name)
    this.touch(parent)
  }

  /** rename(2) semantics: replaces an existing target of the same kind (an empty one, for directories). */
  rename (src: string, dest: string): void {
    const [from, fromName] = this.split(src)
    const [to, toName] = this.split(dest)
    const node = from.children.get(fromName)
    if (!node) throw new FsError(ENOENT, `${src}: no such file or directory`)
    if (node.kind === 'dir') {
      for (let d: DirNode | null = to; d; d = d.parent) {
        if (d === node) throw new FsError(EINVAL, `cannot move ${src} into itself`)
      }
    }
    const existing = to.children.get(toName)
    if (existing === node) return
    if (existing) {
      if (existing.kind === 'dir' && node.kind !== 'dir') throw new FsError(EISDIR, `${dest}: is a directory`)
      if (existing.kind !== 'dir' && node.kind === 'dir') throw new FsError(ENOTDIR, `${dest}: not a directory`)
      if (existing.kind === 'dir' && existing.children.size > 0) {
        throw new FsError(ENOTEMPTY, `${dest}: directory not empty`)
      }
      if (existing.kind === 'file') existing.nlink = 0
    }
    from.children.delete(fromName)
    to.children.set(toName, node)
    if (node.kind === 'dir') node.parent = to
    node.attr.ctime = Date.now()
    this.touch(from)
    this.touch(to)
  }
}
