// The names the mount accepts. Every op that takes a name checks it here, so a name is either stored and shipped
// byte for byte or refused with an errno the application can act on — never silently changed. A name that is
// not UTF-8 never gets this far: the native core refuses it with EILSEQ (lib/native/fuse/ops.c), since two
// different invalid names would decode to the same string and become one file with one source.
import { ENAMETOOLONG } from '../util/errno'

/** Longest name component in bytes, as statfs reports (namemax) and as Linux filesystems allow. */
export const NAME_MAX = 255
/** Longest path in bytes, its terminating NUL included, as in <limits.h>. */
const PATH_MAX = 4096

/**
 * 0 when the mount accepts `name`, else ENAMETOOLONG: for a name over NAME_MAX bytes or, when `path` (the full
 * path the name would get) is given, a path that leaves no room for the NUL.
 *
 * The whole path is limited on creation only. What is created must fit because its path becomes the source
 * name, and the wire refuses longer ones (isName in wire/frames.ts); but a directory renamed to a longer name
 * may push paths that already exist past the limit, and those stay reachable.
 */
export function nameErrno (name: string, path?: string): number {
  if (Buffer.byteLength(name) > NAME_MAX) return ENAMETOOLONG
  if (path !== undefined && Buffer.byteLength(path) >= PATH_MAX) return ENAMETOOLONG
  return 0
}
