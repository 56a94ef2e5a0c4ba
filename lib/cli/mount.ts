// `logfs mount` and `logfs umount`: the agent on a bare host or in a DaemonSet pod.
import fs from 'node:fs'
import path from 'node:path'
import { Agent } from '../agent/agent'
import { supervise } from '../agent/supervisor'
import { cleanStale } from '../fs/mount'
import { log } from '../util/log'
import { InputError, formatBytes, parseDuration } from '../util/units'
import { agentOptionsFrom, type AgentFlags } from './options'
import { emit, onStopSignal } from './run'

export interface MountFlags extends AgentFlags {
  server: string
  stateDir: string
  supervise: boolean
  mkdir?: boolean
  json?: boolean
}

function pidFile (stateDir: string, mountpoint: string): string {
  return path.join(stateDir, encodeURIComponent(mountpoint) + '.pid')
}

export async function mountCommand (mnt: string, f: MountFlags): Promise<void> {
  const mountpoint = path.resolve(mnt)
  // A dead mount left at the place is no reason to stop: the agent cleans it.
  if (f.mkdir) try { fs.mkdirSync(mountpoint, { recursive: true }) } catch (err) { if ((err as NodeJS.ErrnoException).code !== 'ENOTCONN') throw err }
  const options = agentOptionsFrom(mountpoint, f.server, f, path.join(f.stateDir, encodeURIComponent(mountpoint) + '.dirs.json'))
  if (f.supervise) {
    // Same command line, run as the supervised agent; flags were checked above, so a bad one fails here once.
    const args = [...process.execArgv, process.argv[1], ...process.argv.slice(2), '--no-supervise']
    return supervise({ args, json: f.json === true })
  }
  const agent = new Agent(options)
  await agent.start()
  const pid = pidFile(f.stateDir, mountpoint)
  fs.mkdirSync(f.stateDir, { recursive: true })
  fs.writeFileSync(pid, `${process.pid}\n`)
  log('info', 'agent', `mounted ${mountpoint}, shipping to ${agent.options.server} as node ${agent.options.node}`)
  if (f.json) emit('mounted', { mountpoint, pid: process.pid, gen: agent.gen, metrics: agent.metricsAddress })
  // Tells a supervisor that this agent got as far as mounting (see supervisor.ts).
  process.send?.({ event: 'mounted' })
  onStopSignal(async (signal) => {
    log('info', 'agent', `${signal}: no new writes; shipping what is buffered (up to ${agent.options.drainTimeoutMs} ms)`)
    let lastNote = 0
    const ok = await agent.stop((pending) => {
      if (Date.now() - lastNote < 1000) return
      lastNote = Date.now()
      log('info', 'agent', `draining: ${formatBytes(pending)} left`)
    })
    fs.rmSync(pid, { force: true })
    const report = agent.report()
    if (f.json) emit('stopped', { ok, ...report })
    log(ok ? 'info' : 'error', 'agent', ok ? 'stopped; everything was shipped' : `stopped; ${report.pendingBytes} bytes were not shipped`)
    process.exit(ok ? 0 : 1)
  })
}

export async function umountCommand (mnt: string, f: { stateDir: string, timeout: string }): Promise<void> {
  const mountpoint = path.resolve(mnt)
  const timeoutMs = parseDuration(f.timeout, '--timeout')
  const file = pidFile(f.stateDir, mountpoint)
  let pid = NaN
  try { pid = Number(fs.readFileSync(file, 'utf8').trim()) } catch {}
  if (Number.isInteger(pid) && pid > 0 && alive(pid)) {
    process.kill(pid, 'SIGTERM')
    const deadline = Date.now() + timeoutMs
    while (alive(pid)) {
      if (Date.now() > deadline) throw new Error(`agent ${pid} did not stop within ${f.timeout}; it may still be draining`)
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    return
  }
  if (await cleanStale(mountpoint)) {
    log('warn', 'umount', `${mountpoint} had no running agent; cleaned the stale mount`)
    return
  }
  throw new InputError(`${mountpoint} is not a logfs mount`)
}

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
