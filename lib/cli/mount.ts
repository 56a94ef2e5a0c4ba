// `logfs mount` and `logfs umount`: the agent on a bare host or in a DaemonSet pod.
import fs from 'node:fs'
import path from 'node:path'
import { Agent } from '../agent/agent'
import {
  readOutcome, readPid, releasePid, stateDirFile, writeOutcome, writePid, type Outcome,
} from '../agent/state-dir'
import { abortMount, cleanStale } from '../fs/mount'
import { HandoverError, protocol } from '../agent/handover'
import { native } from '../native/fuse/native'
import { log } from '../util/log'
import { InputError, formatBytes, parseDuration } from '../util/units'
import { agentOptionsFrom, type AgentFlags } from './options'
import { emit, onStopSignal } from '../util/process'
import { fail } from './run'

export interface MountFlags extends AgentFlags {
  server: string
  stateDir: string
  supervise: boolean
  /** false: the supervisor holds nothing across agents, each restart mounts again (lib/agent/handover.ts). */
  handover: boolean
  /** Take the mount over from the supervisor running at this place (lib/native/supervisor/README.md). */
  upgrade?: boolean
  mkdir?: boolean
  json?: boolean
}

/** Where bin/logfs-setup builds the supervisor (lib/native/supervisor), from dist/lib/cli/ or lib/cli/. */
const SUPERVISE = path.resolve(__dirname, __dirname.includes(`${path.sep}dist${path.sep}`) ? '../../..' : '../..',
  'lib/native/supervisor/build/Release/logfs-supervise')

/**
 * Memory settings for the supervised agent, measured at 10 MB/s of 200-byte lines: glibc's
 * per-thread arenas and its mmap threshold let the shipping worker's freed batch buffers stay resident (12-17 MiB);
 * a 1 MiB semi-space trims the young generation. No measurable CPU cost. An unsupervised agent is started by
 * whoever runs it, who can set the same.
 */
const AGENT_MALLOC = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '65536', MALLOC_TRIM_THRESHOLD_: '131072' }
const AGENT_NODE_FLAGS = ['--max-semi-space-size=1']

/** Resolves once what was written to `stream` is out: exec would drop what Node still holds. */
const flushed = (stream: NodeJS.WriteStream): Promise<void> =>
  new Promise(resolve => stream.write('', () => resolve()))

export async function mountCommand (mnt: string, f: MountFlags): Promise<void> {
  const mountpoint = path.resolve(mnt)
  // A dead mount left at the place is no reason to stop: the agent cleans it.
  if (f.mkdir) {
    try {
      fs.mkdirSync(mountpoint, { recursive: true })
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOTCONN') throw err
    }
  }
  if (f.upgrade && (!f.supervise || !f.handover)) {
    throw new InputError('--upgrade takes a mount over through the supervisor: it cannot go with --no-supervise '
      + 'or --no-handover')
  }
  const options = agentOptionsFrom(mountpoint, f.server, f, stateDirFile(f.stateDir, mountpoint, 'dirs.json'))
  const pidFile = stateDirFile(f.stateDir, mountpoint, 'pid')
  if (f.supervise) {
    // Same command line, run as the supervised agent; flags were checked above, so a bad one fails here once.
    // --upgrade is the supervisor's business (it takes over what a running one holds), not its agents'.
    const command = [process.execPath, ...AGENT_NODE_FLAGS, ...process.execArgv, process.argv[1],
      ...process.argv.slice(2).filter(a => a !== '--upgrade'), '--no-supervise']
    for (const [name, value] of Object.entries(AGENT_MALLOC)) process.env[name] ??= value
    // This process becomes the supervisor, a small C program: it keeps the pid systemd, a container runtime or a
    // shell knows, and sheds the memory of a Node process that would only wait.
    await flushed(process.stdout)
    await flushed(process.stderr)
    try {
      native.exec(SUPERVISE, [...(f.json ? ['--json'] : []), ...(f.handover ? [] : ['--no-handover']),
        ...(f.upgrade ? ['--upgrade'] : []), '--pid-file', pidFile, '--', ...command])
    } catch (err) {
      if (fs.existsSync(SUPERVISE)) throw err
      throw new Error(`the logfs supervisor is not built (${SUPERVISE}); run bin/logfs-setup, `
        + 'or mount with --no-supervise')
    }
  }
  const agent = new Agent(options)
  try {
    await agent.start()
  } catch (err) {
    if (!(err instanceof HandoverError)) throw err
    // Writers wait on a connection nobody will answer: end it, and let the supervisor start over.
    log('error', 'agent', `${err.message}; ending the old connection so the next agent mounts again: `
      + `open files on ${mountpoint} break`)
    await abortMount(mountpoint)
    process.exit(protocol().exitRenew)
  }
  if (agent.handover.mode !== 'takeover') {
    const to = agent.options.servers.join(', ')
    log('info', 'agent', `mounted ${mountpoint}, shipping to ${to} as node ${agent.options.node}`)
  }
  if (agent.handover.mode === 'fresh' || agent.handover.mode === 'takeover') {
    // A handover, asked by the supervisor on an agent upgrade (its SIGHUP) or a supervisor upgrade (--upgrade): leave
    // the mount and the memfd as they are for the next agent, which takes both over; what this one took and did
    // not answer, the kernel sends it again.
    process.once(protocol().signalHandOver, () => {
      log('info', 'agent', 'handing the mount over to a new agent')
      void agent.quiesce().then(() => process.exit(protocol().exitHandedOver))
    })
  }
  const mounted = { mountpoint, pid: process.pid, gen: agent.gen, metrics: agent.metricsAddress }
  if (process.send) {
    // Under a supervisor the pid file names the supervisor, the process that must be signalled for a stop to
    // stick; if the supervisor dies, this agent is the one left to stop.
    process.once('disconnect', () => {
      writePid(pidFile)
      if (agent.handover.mode === 'fresh' || agent.handover.mode === 'takeover') {
        // The supervisor held the mount's connection for the next agent; nobody does now.
        log('error', 'agent', 'the supervisor is gone: this agent serves on, but when it ends the mount ends with '
          + 'it and open files break; restart the mount (logfs umount, then logfs mount) to get handovers back')
      }
    })
    // The supervisor announces the mount once its pid file names it, so `logfs umount` right after `mounted`
    // finds the process to signal (see lib/native/supervisor/README.md).
    process.send({ event: protocol().eventMounted, ...mounted })
  } else {
    writePid(pidFile)
    if (f.json) emit(protocol().eventMounted, mounted)
  }
  onStopSignal(async (signal) => {
    // Whoever sent the signal (the supervisor, umount, a kill of this pid, systemd), the supervisor must not take
    // the exit that follows for a crash; the exit waits until the message is out.
    const told = new Promise<void>(resolve => {
      if (process.send) process.send({ event: protocol().eventStopping }, () => resolve())
      else resolve()
    })
    log('info', 'agent',
      `${signal}: no new writes; shipping what is buffered (up to ${agent.options.drainTimeoutMs} ms)`)
    let lastNote = 0
    const ok = await agent.stop((pending) => {
      if (Date.now() - lastNote < 1000) return
      lastNote = Date.now()
      log('info', 'agent', `draining: ${formatBytes(pending)} left`)
    })
    const report = agent.report()
    const { pendingBytes, ship: { connected, lastError } } = report
    const time = new Date().toISOString()
    writeOutcome(stateDirFile(f.stateDir, mountpoint, 'stopped.json'),
      { mountpoint, pid: process.pid, time, ok, pendingBytes, connected, lastError })
    releasePid(pidFile)
    if (f.json) emit('stopped', { ok, ...report })
    log(ok ? 'info' : 'error', 'agent',
      ok ? 'stopped; everything was shipped' : `stopped; ${report.pendingBytes} bytes were not shipped`)
    await told
    process.exit(ok ? 0 : 1)
  }, fail)
}

export interface UmountFlags {
  stateDir: string
  timeout: string
  json?: boolean
}

/**
 * Stops the process that owns the mount and reports how the stop ended: exit 0 when everything was shipped,
 * 1 when bytes were left, the stop took too long, or the process ended without saying.
 */
export async function umountCommand (mnt: string, f: UmountFlags): Promise<void> {
  const mountpoint = path.resolve(mnt)
  const timeoutMs = parseDuration(f.timeout, '--timeout')
  const pid = readPid(stateDirFile(f.stateDir, mountpoint, 'pid'))
  if (pid !== null && alive(pid)) {
    const record = stateDirFile(f.stateDir, mountpoint, 'stopped.json')
    // The record of an earlier stop would otherwise be taken for this one's.
    fs.rmSync(record, { force: true })
    process.kill(pid, 'SIGTERM')
    const deadline = Date.now() + timeoutMs
    while (alive(pid)) {
      if (Date.now() > deadline) {
        throw new Error(`agent ${pid} did not stop within ${f.timeout}; it may still be draining`)
      }
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    const outcome = readOutcome(record)
    if (!outcome) {
      throw new Error(`logfs mount of ${mountpoint} (pid ${pid}) ended without reporting what it shipped: `
        + 'it was killed or crashed, and what it held in memory is lost')
    }
    if (f.json) process.stdout.write(JSON.stringify(outcome) + '\n')
    if (!outcome.ok) {
      throw new Error(`agent stopped with ${outcome.pendingBytes} bytes not shipped (${whyUnshipped(outcome)})`)
    }
    return
  }
  if (await cleanStale(mountpoint)) {
    log('warn', 'umount', `${mountpoint} had no running agent; cleaned the stale mount`)
    return
  }
  throw new InputError(`${mountpoint} is not a logfs mount`)
}

function whyUnshipped (o: Outcome): string {
  if (o.connected) return `the server did not acknowledge them in time; last error: ${o.lastError ?? 'none'}`
  return `server unreachable: ${o.lastError ?? 'never connected'}`
}

/**
 * Whether the process still runs. One that ended but that its parent has not reaped yet (a zombie: the parent is a
 * Python `Popen`, a Go `exec.Cmd`, a supervisor that reaps later) has ended, and wrote its outcome before it did.
 * A zombie leader whose other threads live on (one stuck in the kernel, say) has not ended: /proc/PID/task lists
 * them.
 */
function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The state follows the command name, which is in parentheses and may hold spaces and parentheses itself.
    const state = stat[stat.lastIndexOf(')') + 2]
    return !((state === 'Z' || state === 'X') && fs.readdirSync(`/proc/${pid}/task`).length <= 1)
  } catch {
    // Gone between the two looks.
    return false
  }
}
