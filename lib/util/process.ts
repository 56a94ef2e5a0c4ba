// How a long-running logfs process talks to whoever started it: JSON events on stdout, and an orderly stop on
// SIGTERM/SIGINT.
import { log } from './log'

let stdoutGone = false

/**
 * A reader that goes away (`logfs grep … | head`, a supervisor that died) must not crash an agent or a server:
 * after EPIPE, stdout is simply no longer written. Installed once, at the start of the program.
 */
export function tolerateClosedStdout (): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err
    stdoutGone = true
  })
}

/** One JSON object per line on stdout, for scripts (`--json`). */
export function emit (event: string, fields: object): void {
  if (!stdoutGone) process.stdout.write(JSON.stringify({ event, ...fields }) + '\n')
}

/**
 * Runs `stop` once on the first SIGTERM/SIGINT, handing its failure to `onFailure`; a second signal exits at once.
 * A repeat within a second is the same request arriving twice (to the process and to its group), not impatience.
 */
export function onStopSignal (stop: (signal: string) => Promise<void>, onFailure: (err: unknown) => void): void {
  let stopping = 0
  const handler = (signal: NodeJS.Signals): void => {
    if (stopping && Date.now() - stopping < 1000) return
    if (stopping) {
      log('warn', 'cli', `second ${signal}: exiting without finishing the stop`)
      process.exit(130)
    }
    stopping = Date.now()
    stop(signal).catch(onFailure)
  }
  process.on('SIGTERM', handler)
  process.on('SIGINT', handler)
}
