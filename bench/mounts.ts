// FUSE mounts a benchmark leaves behind when a run goes wrong. A killed agent leaves a dead mount; a hung one
// keeps its writers in uninterruptible sleep (D state) until its connection is aborted, and even SIGKILL does not
// end an agent thread stuck in the kernel on its own mount. So: abort the connection, then detach (DESIGN.md).
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'

const CONNECTIONS = '/sys/fs/fuse/connections'

/** FUSE mounts at or below `dir`, with the minor device number that names their connection in fusectl. */
export function fuseMountsUnder (dir: string): Array<{ mnt: string, connection: string }> {
  const out: Array<{ mnt: string, connection: string }> = []
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ')
    const sep = f.indexOf('-')
    if (sep < 0 || !f[sep + 1].startsWith('fuse')) continue
    // mountinfo escapes spaces and the like as octal; benchmark paths (mkdtemp) have none.
    if (f[4] === dir || f[4].startsWith(dir + '/')) out.push({ mnt: f[4], connection: f[2].split(':')[1] })
  }
  return out
}

function ensureFusectl (): void {
  if (fs.existsSync(`${CONNECTIONS}/`) && fs.readdirSync(CONNECTIONS).length > 0) return
  try { execFileSync('mount', ['-t', 'fusectl', 'none', CONNECTIONS], { stdio: 'ignore' }) } catch {}
}

/** Aborts the connection of every FUSE mount below `dir` (its waiting requests fail) and detaches the mount. */
export function abortMountsUnder (dir: string): void {
  const found = fuseMountsUnder(dir)
  if (found.length > 0) ensureFusectl()
  for (const { mnt, connection } of found) {
    try { fs.writeFileSync(`${CONNECTIONS}/${connection}/abort`, '1') } catch {}
    try { execFileSync('umount', ['-l', mnt], { stdio: 'ignore' }) } catch {
      try { execFileSync('fusermount', ['-uz', mnt], { stdio: 'ignore' }) } catch {}
    }
  }
}
