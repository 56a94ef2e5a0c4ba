// The names the mount accepts. Every op that takes a path checks it here, so a name is either stored and shipped
// byte for byte or refused with an errno the application can act on — never silently changed.
import { EILSEQ, ENAMETOOLONG } from './tree'

/** Longest name component in bytes, as statfs reports (namemax) and as Linux filesystems allow. */
export const NAME_MAX = 255
/** Longest path in bytes, its terminating NUL included, as in <limits.h>. */
const PATH_MAX = 4096

/**
 * 0 when the mount accepts `path`, else the errno it is refused with: EILSEQ for a name containing U+FFFD,
 * ENAMETOOLONG for a name over NAME_MAX bytes or, when `creating`, a path that leaves no room for the NUL.
 *
 * U+FFFD: fuse-native's C glue hands every path to JavaScript through napi_create_string_utf8, which replaces
 * each byte that is not valid UTF-8 with U+FFFD, so `bad\xff.log` and `bad\xfe.log` arrive as the same string
 * and would become one file with one source. The original bytes are gone by then, so a genuine U+FFFD in a
 * name cannot be told apart and is refused too; a native core that sees the raw bytes could lift that.
 * Lookups are checked as well, so such a name answers EILSEQ to every call and can never reach another file.
 *
 * The whole path is limited on creation only. What is created must fit because its path becomes the source
 * name, and the wire refuses longer ones (isName in wire/frames.ts); but a directory renamed to a longer name
 * may push paths that already exist past the limit, and those stay reachable.
 */
export function pathErrno (path: string, creating: boolean): number {
  // '/' is never U+FFFD, so the path contains one exactly when one of its names does.
  if (path.includes('\ufffd')) return EILSEQ
  // Checked on every lookup: only a path longer than NAME_MAX can hold a name that is, so most are not split.
  const bytes = Buffer.byteLength(path)
  if (bytes > NAME_MAX && path.split('/').some(name => Buffer.byteLength(name) > NAME_MAX)) return ENAMETOOLONG
  if (creating && bytes >= PATH_MAX) return ENAMETOOLONG
  return 0
}
