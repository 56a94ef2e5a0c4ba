// What a mount keeps in its state directory (--state-dir), each file named after the mount point: `.pid` names the
// process `logfs umount` signals (the supervisor, or the agent when unsupervised); `.stopped.json` says how the last
// deliberate stop ended, because umount cannot wait for the exit code of a process that is not its child;
// `.dirs.json` is the directory skeleton kept across restarts. The supervisor (lib/native/supervisor/pidfile.c)
// writes and removes `.pid` in C, the way writePid and releasePid do (test/contract.test.ts runs both), and listens
// for a supervisor upgrade on `.sock` beside it (docs/continuity.md). Not the memfd a restarted agent takes over:
// that is lib/ring/memfd.ts.
import fs from 'node:fs'
import path from 'node:path'
import { log } from '../util/log'
import { writeFileAtomic } from '../util/atomic-file'

export function stateDirFile (stateDir: string, mountpoint: string, suffix: 'pid' | 'dirs.json' | 'stopped.json'):
  string {
  return path.join(stateDir, `${encodeURIComponent(mountpoint)}.${suffix}`)
}

/** Names this process as the one to signal. A failure is logged, not thrown: the mount works on without it. */
export function writePid (file: string): void {
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true })
    // Replaced whole: a reader never sees the file empty or half written.
    writeFileAtomic(file, `${process.pid}\n`)
  } catch (err) {
    log('error', 'agent', `cannot write ${file}; logfs umount will not find this mount: ${(err as Error).message}`)
  }
}

export function readPid (file: string): number | null {
  let pid: number
  try { pid = Number(fs.readFileSync(file, 'utf8').trim()) } catch { return null }
  return Number.isInteger(pid) && pid > 0 ? pid : null
}

/** Removes the pid file if it names this process: a newer mount at the same place may have taken it over. */
export function releasePid (file: string): void {
  if (readPid(file) === process.pid) fs.rmSync(file, { force: true })
}

export interface Outcome {
  version: 1
  mountpoint: string
  /** The agent that drained. */
  pid: number
  /** ISO time of the end of the stop. */
  time: string
  /** Everything written was acknowledged by the server. */
  ok: boolean
  pendingBytes: number
  /** Whether the server answered at the end; with lastError, why the bytes were left. */
  connected: boolean
  lastError: string | null
}

/**
 * Written whole or not at all: umount reads it once the writer is gone, whatever killed it meanwhile. A failure
 * is logged, not thrown: the stop itself went as it went, and its exit code still says so.
 */
export function writeOutcome (file: string, outcome: Omit<Outcome, 'version'>): void {
  try {
    writeFileAtomic(file, JSON.stringify({ version: 1, ...outcome }) + '\n')
  } catch (err) {
    log('error', 'agent', `cannot write the outcome of this stop to ${file}: ${(err as Error).message}`)
  }
}

/** The outcome of the last stop, or null if there is none. */
export function readOutcome (file: string): Outcome | null {
  let text: string
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
  const parsed = JSON.parse(text) as Outcome
  if (parsed.version !== 1) throw new Error(`${file}: unknown outcome record version ${String(parsed.version)}`)
  return parsed
}
