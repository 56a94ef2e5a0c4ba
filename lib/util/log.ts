// One line per event on stderr, so stdout stays free for data a script may read (`--json`, `cat`).
export type Level = 'debug' | 'info' | 'warn' | 'error'
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 }

/**
 * debug|info|warn|error; anything else is info. The supervisor reads it too (lib/native/protocol.h names it; this
 * module loads no addon, since a server logs as well): test/contract.test.ts checks the names and the lines agree.
 */
export const LOG_LEVEL_ENV = 'LOGFS_LOG_LEVEL'
const threshold: number = ORDER[process.env[LOG_LEVEL_ENV] as Level] ?? ORDER.info

const field = ([k, v]: [string, unknown]): string => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`

/** `<ISO time> <level padded to 5> <component>: <message> [key=value...]`, as lib/native/supervisor/log.c writes. */
export function log (level: Level, component: string, message: string, fields?: Record<string, unknown>): void {
  if (ORDER[level] < threshold) return
  const extra = fields ? ' ' + Object.entries(fields).map(field).join(' ') : ''
  process.stderr.write(`${new Date().toISOString()} ${level.padEnd(5)} ${component}: ${message}${extra}\n`)
}
