// How every command ends: errors on stderr with the program name, exit 2 for bad input, 1 for failures.
import { InputError } from '../util/units'
import { log } from '../util/log'

export function fail (err: unknown): never {
  const e = err as Error
  process.stderr.write(`logfs: ${e.message ?? String(err)}\n`)
  if (!(e instanceof InputError) && e.name !== 'MountError' && process.env.LOGFS_DEBUG) process.stderr.write(`${e.stack}\n`)
  process.exit(e instanceof InputError ? 2 : 1)
}

/**
 * Runs `stop` once on the first SIGTERM/SIGINT; a second signal exits at once. A repeat within a second is the
 * same request arriving twice (to the process and to its group), not impatience.
 */
export function onStopSignal (stop: (signal: string) => Promise<void>): void {
  let stopping = 0
  const handler = (signal: NodeJS.Signals): void => {
    if (stopping && Date.now() - stopping < 1000) return
    if (stopping) {
      log('warn', 'cli', `second ${signal}: exiting without finishing the stop`)
      process.exit(130)
    }
    stopping = Date.now()
    stop(signal).catch(fail)
  }
  process.on('SIGTERM', handler)
  process.on('SIGINT', handler)
}

// A reader that goes away (`logfs grep … | head`, a supervisor that died) must not crash an agent or a server:
// stdout is simply no longer written.
let stdoutGone = false
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err
  stdoutGone = true
})

/** One JSON object per line on stdout, for scripts (`--json`). */
export function emit (event: string, fields: object): void {
  if (!stdoutGone) process.stdout.write(JSON.stringify({ event, ...fields }) + '\n')
}
