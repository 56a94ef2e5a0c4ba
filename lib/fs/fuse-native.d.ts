// Types for the parts of fuse-native 2.2.6 that logfs uses (the package ships none).
declare module 'fuse-native' {
  type Cb<T = void> = T extends void ? (err: number) => void : (err: number, value?: T) => void

  export interface Stat {
    mode: number
    uid: number
    gid: number
    size: number
    nlink?: number
    ino?: number
    blksize?: number
    blocks?: number
    atime: number | Date
    mtime: number | Date
    ctime: number | Date
  }

  export interface StatFs {
    bsize: number, frsize: number, blocks: number, bfree: number, bavail: number,
    files: number, ffree: number, favail: number, fsid: number, flag: number, namemax: number
  }

  export interface Ops {
    init?: (cb: Cb) => void
    statfs?: (path: string, cb: Cb<StatFs>) => void
    getattr?: (path: string, cb: Cb<Stat>) => void
    fgetattr?: (path: string, fd: number, cb: Cb<Stat>) => void
    access?: (path: string, mode: number, cb: Cb) => void
    readdir?: (path: string, cb: (err: number, names?: string[], stats?: Stat[]) => void) => void
    open?: (path: string, flags: number, cb: Cb<number>) => void
    create?: (path: string, mode: number, cb: Cb<number>) => void
    read?: (path: string, fd: number, buf: Buffer, len: number, pos: number, cb: (bytes: number) => void) => void
    write?: (path: string, fd: number, buf: Buffer, len: number, pos: number, cb: (bytes: number) => void) => void
    release?: (path: string, fd: number, cb: Cb) => void
    flush?: (path: string, fd: number, cb: Cb) => void
    fsync?: (path: string, datasync: boolean, fd: number, cb: Cb) => void
    truncate?: (path: string, size: number, cb: Cb) => void
    ftruncate?: (path: string, fd: number, size: number, cb: Cb) => void
    utimens?: (path: string, atime: number, mtime: number, cb: Cb) => void
    chown?: (path: string, uid: number, gid: number, cb: Cb) => void
    chmod?: (path: string, mode: number, cb: Cb) => void
    unlink?: (path: string, cb: Cb) => void
    rename?: (src: string, dest: string, cb: Cb) => void
    mkdir?: (path: string, mode: number, cb: Cb) => void
    rmdir?: (path: string, cb: Cb) => void
  }

  export interface Options {
    allowOther?: boolean
    defaultPermissions?: boolean
    fsname?: string
    subtype?: string
    mkdir?: boolean
    force?: boolean
    debug?: boolean
    timeout?: number | false | Record<string, number | false>
  }

  class Fuse {
    constructor (mnt: string, ops: Ops, opts?: Options)
    readonly mnt: string
    protected _fuseOptions (): string
    mount (cb: (err: Error | null) => void): void
    unmount (cb: (err: Error | null) => void): void
    static unmount (mnt: string, cb: (err: Error | null) => void): void
  }
  export default Fuse
}
