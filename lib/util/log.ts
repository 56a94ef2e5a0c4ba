// One line per event on stderr, so stdout stays free for data a script may read (`--json`, `cat`).
export type Level = 'debug' | 'info' | 'warn' | 'error'
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 }

// LOGFS_LOG_LEVEL=debug|info|warn|error
const threshold: number = ORDER[(process.env.LOGFS_LOG_LEVEL as Level) ?? 'info'] ?? ORDER.info

const field = ([k, v]: [string, unknown]): string => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`

export function log (level: Level, component: string, message: string, fields?: Record<string, unknown>): void {
  if (ORDER[level] < threshold) return
  const extra = fields ? ' ' + Object.entries(fields).map(field).join(' ') : ''
  process.stderr.write(`${new Date().toISOString()} ${level.padEnd(5)} ${component}: ${message}${extra}\n`)
}
