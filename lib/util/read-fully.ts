// Reading a file range whole with readSync, which may return fewer bytes than asked.
import fs from 'node:fs'

/** Fills `buf` from `fd` at `position`; throws when the file ends first. */
export function readFully (fd: number, buf: Uint8Array, position: number): void {
  for (let done = 0; done < buf.length;) {
    const n = fs.readSync(fd, buf, done, buf.length - done, position + done)
    if (n === 0) throw new Error(`the file ends ${buf.length - done} bytes early at ${position + done}`)
    done += n
  }
}
