// Files that hold state across restarts are replaced whole: written to a temporary name, fsynced, then renamed
// over the old one, so a reader (or the next start after a crash) sees the old version or the new, never a part.
import fs from 'node:fs'

/**
 * Replaces `file` with `text` (or bytes), written first to `tmp`. On failure the old file is untouched, the
 * temporary one is removed (it would only take space), and the error is thrown.
 */
export function writeFileAtomic (file: string, text: string | Uint8Array, tmp = `${file}.tmp`): void {
  try {
    const fd = fs.openSync(tmp, 'w')
    try {
      fs.writeFileSync(fd, text)
      fs.fsyncSync(fd)
    } finally {
      fs.closeSync(fd)
    }
    fs.renameSync(tmp, file)
  } catch (err) {
    fs.rmSync(tmp, { force: true })
    throw err
  }
}
