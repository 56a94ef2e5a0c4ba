// The FUSE requests the native core hands to JavaScript, decoded once from the binding's positional call
// (native.ts, Dispatch; session.h, struct lf_call, says which argument is what for each op) into named fields.
// Writes and reads never come here: C answers them on the FUSE threads.
import { native, OP_NAMES, type Dispatch, type OpName } from './native'

/** What every request has: `req` names it for native.reply* (0: answered already, as for forget and release). */
interface Base {
  req: number
  /** The kernel sent it again after the agent that first got it died (lib/native/fuse/state.h): it may be done. */
  resent: boolean
}

/** setattr's changes: a field is there when the kernel asked for it; 'now' is the time the change is made. */
export interface AttrChanges {
  mode?: number
  uid?: number
  gid?: number
  size?: number
  atime?: number | 'now'
  mtime?: number | 'now'
}

export type Request = Base & (
  | { op: 'lookup' | 'unlink' | 'rmdir', parent: number, name: string }
  | { op: 'forget', ino: number, nlookup: number }
  | { op: 'getattr' | 'release', ino: number }
  | { op: 'setattr', ino: number, set: AttrChanges }
  | { op: 'mkdir', parent: number, name: string, mode: number }
  | { op: 'rename', parent: number, name: string, newParent: number, newName: string, flags: number }
  | { op: 'open', ino: number, flags: number }
  | { op: 'create', parent: number, name: string, mode: number, flags: number }
  | { op: 'fsync', ino: number, datasync: boolean }
  | { op: 'readdir', ino: number, size: number, offset: number }
)

export type RequestHandler = (request: Request) => void

/** The binding's Dispatch for a handler of decoded requests. Reads the op codes from the native core. */
export function decoding (handle: RequestHandler): Dispatch {
  const codes = native.constants.op
  const ops = new Map<number, OpName>(OP_NAMES.map(name => [codes[name], name]))
  const bits = native.constants.setAttr
  const changes = (valid: number, mode: number, uid: number, gid: number, size: number, atime: number,
    mtime: number): AttrChanges => {
    const set: AttrChanges = {}
    if (valid & bits.mode) set.mode = mode
    if (valid & bits.uid) set.uid = uid
    if (valid & bits.gid) set.gid = gid
    if (valid & bits.size) set.size = size
    if (valid & bits.atime) set.atime = valid & bits.atimeNow ? 'now' : atime
    if (valid & bits.mtime) set.mtime = valid & bits.mtimeNow ? 'now' : mtime
    return set
  }
  return (code, req, ino, name, ino2, name2, a, b, c, d, e, f, g, resent) => {
    const base: Base = { req, resent: resent !== 0 }
    const named = { parent: ino, name: name ?? '' }
    const op = ops.get(code)
    switch (op) {
      case 'lookup': case 'unlink': case 'rmdir':
        return handle({ ...base, op, ...named })
      case 'forget':
        return handle({ ...base, op, ino, nlookup: a })
      case 'getattr': case 'release':
        return handle({ ...base, op, ino })
      case 'setattr':
        return handle({ ...base, op, ino, set: changes(a, b, c, d, e, f, g) })
      case 'mkdir':
        return handle({ ...base, op, ...named, mode: a })
      case 'rename':
        return handle({ ...base, op, ...named, newParent: ino2, newName: name2 ?? '', flags: a })
      case 'open':
        return handle({ ...base, op, ino, flags: a })
      case 'create':
        return handle({ ...base, op, ...named, mode: a, flags: b })
      case 'fsync':
        return handle({ ...base, op, ino, datasync: a !== 0 })
      case 'readdir':
        return handle({ ...base, op, ino, size: a, offset: b })
      case undefined:
        throw new Error(`the native core sent op ${code}, which this build does not know`)
    }
  }
}
