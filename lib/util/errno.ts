// The errno values logfs answers with, taken from the OS (os.constants.errno) rather than restated, in one sign
// convention: NEGATIVE, as the native core returns them (`-ENOSPC` from a write, `-EROFS` after a stop) and as
// FsError carries them. The native calls that answer the kernel (native.replyErr, tenantFailWaiting) take the
// positive number, as fuse_reply_err does: pass `-errno` there.
import { constants } from 'node:os'

const { errno } = constants

export const EEXIST = -errno.EEXIST
export const EFBIG = -errno.EFBIG
export const EINVAL = -errno.EINVAL
export const EIO = -errno.EIO
export const EISDIR = -errno.EISDIR
export const ENAMETOOLONG = -errno.ENAMETOOLONG
export const ENOENT = -errno.ENOENT
export const ENOSPC = -errno.ENOSPC
export const ENOTDIR = -errno.ENOTDIR
export const ENOTEMPTY = -errno.ENOTEMPTY
export const EROFS = -errno.EROFS
