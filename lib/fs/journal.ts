// The namespace's part of the memfd a restarted agent takes over: every node the kernel may name, by
// the inode number it knows it by. The bytes live in the memfd the supervisor holds (lib/native/fuse/state.h, the
// meta slots); this module decides what goes there. A change is recorded before it is answered, so a node the
// kernel learnt of is never missing; a change recorded but never answered comes again (FUSE_NOTIFY_RESEND), and
// ops.ts takes it as done.
//
// Format, version 1, msgpack:
//   snapshot: [version, inoLimit, NodeRecord[]]            (tree.ts NodeRecord)
//   journal records after it, each u32 length + msgpack:  NodeRecord (the node as it is now) | [ino] (gone)
// A journal that fills its slot is folded into a new snapshot, swapped in at once.
import { pack, unpack } from 'msgpackr'
import { native } from '../native/fuse/native'
import type { Node, NodeRecord, Tree } from './tree'

export const JOURNAL_VERSION = 1

type Snapshot = [version: number, inoLimit: number, nodes: NodeRecord[]]

export interface SavedNamespace {
  /** By inode number, the last record of each node not gone. */
  records: Map<number, NodeRecord>
  inoLimit: number
}

export class Journal {
  constructor (private readonly tree: Tree) {}

  /** Records nodes as they are now (those the tree still knows); call before answering the change. */
  write (...nodes: Array<Node | null | undefined>): void {
    for (const n of nodes) if (n && this.tree.has(n)) this.append(this.tree.record(n))
  }

  /** Records that the kernel can no longer name the node. */
  gone (node: Node): void { this.append([node.attr.ino]) }

  private append (record: NodeRecord | [number]): void {
    // A full journal becomes a snapshot, which includes this change: the tree has it already.
    if (!native.metaAppend(pack(record))) this.snapshot()
  }

  /** Replaces what the memfd holds with the whole namespace as it is now. */
  snapshot (): void {
    const snapshot: Snapshot = [JOURNAL_VERSION, this.tree.inoLimit, [...this.tree.all()].map(n => this.tree.record(n))]
    if (!native.metaSnapshot(pack(snapshot))) {
      throw new Error('the namespace no longer fits in the memfd kept for a restart')
    }
  }

  /** What a dead agent left; throws when it is not in a format this build reads. */
  static read (): SavedNamespace {
    const [snapshotBytes, journal] = native.metaRead()
    if (snapshotBytes.length === 0) throw new Error('the memfd holds no namespace snapshot')
    const [version, inoLimit, nodes] = unpack(snapshotBytes) as Snapshot
    if (version !== JOURNAL_VERSION) {
      throw new Error(`namespace snapshot version ${String(version)}, this build reads version ${JOURNAL_VERSION}`)
    }
    const records = new Map(nodes.map(r => [r[0], r]))
    let limit = inoLimit
    for (let at = 0; at + 4 <= journal.length;) {
      const len = journal.readUInt32LE(at)
      const record = unpack(journal.subarray(at + 4, at + 4 + len)) as NodeRecord | [number]
      at += 4 + len
      if (record.length === 1) records.delete(record[0])
      else records.set(record[0], record)
      limit = Math.max(limit, record[0] + 1)
    }
    return { records, inoLimit: limit }
  }
}
