// A process and everything it started, read from /proc: what an agent costs is the sum over all of its processes
// (a supervisor, the agent, any helper it forks), not the one pid that announced the mount. This kernel has no
// /proc/PID/task/TID/children, so the tree is found by scanning every process's parent.
import fs from 'node:fs'

export interface ProcUsage {
  pid: number
  /** The kernel's command name (/proc/PID/comm), e.g. `node`, `rsyslogd`. */
  comm: string
  /** VmRSS: resident memory now. */
  rssKiB: number
  /**
   * User + system CPU of the process and of its children it has reaped, so a helper that ran and exited (a
   * restarted agent, a fusermount) still counts once its parent collected it.
   */
  cpuSeconds: number
}

/** Clock ticks per second of /proc/PID/stat times; 100 on every Linux this runs on (getconf CLK_TCK). */
const TICKS = 100

function stat (pid: number): { ppid: number, comm: string, cpuSeconds: number } | null {
  let text: string
  try { text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8') } catch { return null }
  // The command name is in parentheses and may itself hold spaces or ')': split after the last ')'.
  const close = text.lastIndexOf(')')
  const f = text.slice(close + 2).split(' ')
  // Fields counted from 'state' (field 3): ppid 4, utime 14, stime 15, cutime 16, cstime 17.
  const ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])
  return { ppid: Number(f[1]), comm: text.slice(text.indexOf('(') + 1, close), cpuSeconds: ticks / TICKS }
}

function rssKiB (pid: number): number | null {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0)
  } catch {
    return null
  }
}

/** `root` and all its descendants that are alive now, parents before children. */
export function tree (root: number): number[] {
  const kids = new Map<number, number[]>()
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    const s = stat(Number(name))
    if (!s) continue
    const list = kids.get(s.ppid) ?? []
    list.push(Number(name))
    kids.set(s.ppid, list)
  }
  const out: number[] = []
  const visit = (pid: number): void => { out.push(pid); for (const k of kids.get(pid) ?? []) visit(k) }
  if (stat(root)) visit(root)
  return out
}

/** Usage of each of these processes that is alive; one that exits while being read is left out. */
export function usageOf (pids: number[]): ProcUsage[] {
  const out: ProcUsage[] = []
  for (const pid of pids) {
    const s = stat(pid)
    const rss = rssKiB(pid)
    if (s && rss !== null) out.push({ pid, comm: s.comm, rssKiB: rss, cpuSeconds: s.cpuSeconds })
  }
  return out
}

/**
 * Signals the whole tree, so a killed supervisor cannot leave its agent (and mount) behind. Parents first: a
 * supervisor that outlived its agent by a moment would start a new one. The tree is read before the first signal.
 */
export function killTree (root: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  for (const pid of tree(root)) {
    try { process.kill(pid, signal) } catch {}
  }
}
