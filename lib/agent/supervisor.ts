// Keeps an agent running: a FUSE agent that dies leaves every writer's mount broken ("Transport endpoint is not
// connected"), so the supervisor starts a new one at once. The new agent cleans the dead mount, restores the
// directory skeleton and mounts again at the same place. The supervisor never mounts anything itself: it holds
// no /dev/fuse descriptor, so a dead agent's connection really ends and writers get ENOTCONN instead of hanging.
import { spawn, type ChildProcess } from 'node:child_process'
import { log } from '../util/log'
import { emit, onStopSignal } from '../cli/run'

export interface SuperviseOptions {
  /** The command line of one agent, run with this Node. */
  args: string[]
  json: boolean
}

const MAX_DELAY_MS = 5000
/** An agent that ran this long was not crash-looping: its death is restarted at once. */
const STABLE_MS = 5_000

export function supervise (opts: SuperviseOptions): void {
  let child: ChildProcess | null = null
  let stopping = false
  let quickFailures = 0
  let everMounted = false

  const start = (): void => {
    const started = Date.now()
    child = spawn(process.execPath, opts.args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    child.on('message', (m: unknown) => { if ((m as { event?: string }).event === 'mounted') everMounted = true })
    child.once('exit', (code, signal) => {
      child = null
      // A clean exit is a deliberate stop (SIGTERM, `logfs umount`): the supervisor ends with it. An agent that
      // never mounted failed on its configuration or its mount point; starting it again would fail the same way.
      if (stopping || code === 0 || !everMounted) process.exit(code ?? 1)
      quickFailures = Date.now() - started > STABLE_MS ? 0 : quickFailures + 1
      const delay = quickFailures <= 1 ? 0 : Math.min(MAX_DELAY_MS, 250 * 2 ** (quickFailures - 2))
      const how = signal ? `signal ${signal}` : `exit code ${code}`
      log('error', 'supervisor', `agent died (${how}); starting a new one${delay ? ` in ${delay} ms` : ''}`)
      if (opts.json) emit('restarting', { reason: how, delayMs: delay })
      setTimeout(start, delay)
    })
  }

  onStopSignal(async (signal) => {
    stopping = true
    if (child) child.kill(signal as NodeJS.Signals)
    else process.exit(0)
  })
  start()
}
