// Keeps an agent running: a FUSE agent that dies leaves every writer's mount broken ("Transport endpoint is not
// connected"), so the supervisor starts a new one at once. The new agent cleans the dead mount, restores the
// directory skeleton and mounts again at the same place. The supervisor never mounts anything itself: it holds
// no /dev/fuse descriptor, so a dead agent's connection really ends and writers get ENOTCONN instead of hanging.
// A deliberate stop is never restarted, whichever process got the signal.
import { spawn, type ChildProcess } from 'node:child_process'
import { log } from '../util/log'
import { emit } from '../util/process'
import { GEN_FLOOR_ENV, releasePid, writePid } from './state'

export interface SuperviseOptions {
  /** The command line of one agent, run with this Node. */
  args: string[]
  json: boolean
  /** Names the supervisor once an agent has mounted: `logfs umount` signals it, and it outlives restarts. */
  pidFile: string
}

const MAX_DELAY_MS = 5000
/** An agent that ran this long was not crash-looping: its death is restarted at once. */
const STABLE_MS = 5_000

export function supervise (opts: SuperviseOptions): void {
  let child: ChildProcess | null = null
  let stopping = false
  let quickFailures = 0
  let everMounted = false
  let lastGen = Number(process.env[GEN_FLOOR_ENV] ?? 0)

  const end = (code: number): never => {
    releasePid(opts.pidFile)
    process.exit(code)
  }

  const start = (): void => {
    const started = Date.now()
    const env = { ...process.env, [GEN_FLOOR_ENV]: String(lastGen) }
    child = spawn(process.execPath, opts.args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env })
    child.on('message', (m: unknown) => {
      const { event, ...fields } = m as { event?: string, gen?: number }
      if (event === 'mounted') {
        everMounted = true
        lastGen = fields.gen ?? lastGen
        writePid(opts.pidFile)
        if (opts.json) emit('mounted', fields)
      }
      // The agent was signalled itself (its pid killed, systemd, kubelet): what follows is its stop, not a crash.
      if (event === 'stopping') stopping = true
    })
    // 'close' rather than 'exit': it comes after the agent's last message, so a 'stopping' sent just before
    // the agent exits is never missed.
    child.once('close', (code, signal) => {
      child = null
      const how = signal ? `signal ${signal}` : `exit code ${code}`
      if (stopping) {
        log('info', 'supervisor', `agent stopped deliberately (${how}); not starting a new one`)
        end(code ?? 1)
      }
      // An agent that never mounted failed on its configuration or its mount point; starting it again would fail
      // the same way. A clean exit is a stop too.
      if (code === 0 || !everMounted) end(code ?? 1)
      quickFailures = Date.now() - started > STABLE_MS ? 0 : quickFailures + 1
      const delay = quickFailures <= 1 ? 0 : Math.min(MAX_DELAY_MS, 250 * 2 ** (quickFailures - 2))
      log('error', 'supervisor', `agent died (${how}); starting a new one${delay ? ` in ${delay} ms` : ''}`)
      if (opts.json) emit('restarting', { reason: how, delayMs: delay })
      setTimeout(start, delay)
    })
  }

  // Every SIGTERM/SIGINT goes to the agent, which decides what it means: the first one drains, a later one ends
  // it at once (see onStopSignal). The supervisor then ends with the agent's exit code.
  const forward = (signal: NodeJS.Signals): void => {
    stopping = true
    if (child) child.kill(signal)
    else end(0)
  }
  process.on('SIGTERM', forward)
  process.on('SIGINT', forward)
  start()
}
