// The directory skeleton of a mount (directories, owners, modes — never file contents), kept in a small file
// in the state directory (tmpfs /run by default) so a restarted agent comes back with the tenant and pod
// directories applications and kubelet made: an application that reopens its log path after a restart finds
// its directory where it was.
import fs from 'node:fs'
import { type DirNode, type Tree } from './tree'
import { log } from '../util/log'
import { writeFileAtomic } from '../util/atomic-file'

export interface DirEntry { path: string, mode: number, uid: number, gid: number }

export function snapshot (tree: Tree): DirEntry[] {
  const out: DirEntry[] = []
  const walk = (dir: DirNode, path: string): void => {
    out.push({ path, mode: dir.attr.mode, uid: dir.attr.uid, gid: dir.attr.gid })
    for (const [name, child] of dir.children) if (child.kind === 'dir') walk(child, path + '/' + name)
  }
  walk(tree.root, '')
  return out
}

/** Recreates the directories of a snapshot, parents first (the order `snapshot` wrote them in). */
export function restore (tree: Tree, entries: DirEntry[]): number {
  let made = 0
  for (const e of entries) {
    const at = e.path.lastIndexOf('/')
    const dir = e.path === ''
      ? tree.root
      : tree.mkdir(tree.lookupDir(e.path.slice(0, at)), e.path.slice(at + 1), e.mode)
    dir.attr.mode = e.mode
    dir.attr.uid = e.uid
    dir.attr.gid = e.gid
    if (e.path !== '') made++
  }
  return made
}

export class SkeletonFile {
  private timer: NodeJS.Timeout | null = null

  constructor (readonly file: string) {}

  load (): DirEntry[] {
    let text: string
    try {
      text = fs.readFileSync(this.file, 'utf8')
    } catch {
      return []
    }
    try {
      const parsed = JSON.parse(text) as { version: number, dirs: DirEntry[] }
      if (parsed.version !== 1 || !Array.isArray(parsed.dirs)) throw new Error('unknown format')
      return parsed.dirs
    } catch (err) {
      log('warn', 'fs', `ignoring the directory snapshot ${this.file}: ${(err as Error).message}`)
      return []
    }
  }

  /** Writes the snapshot soon: directory changes come in bursts (mkdir -p, a pod starting). */
  schedule (tree: Tree): void {
    if (this.timer) return
    this.timer = setTimeout(() => {
      this.timer = null
      this.write(tree)
    }, 100)
  }

  write (tree: Tree): void {
    if (this.timer) { clearTimeout(this.timer); this.timer = null }
    try {
      writeFileAtomic(this.file, JSON.stringify({ version: 1, dirs: snapshot(tree) }))
    } catch (err) {
      log('warn', 'fs', `cannot save the directory snapshot ${this.file}: ${(err as Error).message}`)
    }
  }
}
