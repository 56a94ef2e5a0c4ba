// The comparison run as Markdown: every row in one table, then what went wrong. The headline figures,
// with their goals, are bench/figures.ts.
import type { Row } from './row'

export const show = (v: number | null): string => v === null ? '–' : String(v)

/** "131.5 (supervisor 48.2 + agent 83.3)": the sum, and each process where there are several. */
export function rssCell (r: Row): string {
  if (r.agentRssMiB === null) return '–'
  if (r.agentRss.length < 2) return String(r.agentRssMiB)
  return `${r.agentRssMiB} (${r.agentRss.map(p => `${p.name} ${p.MiB}`).join(' + ')})`
}

const COLUMNS: Array<[string, (r: Row) => string]> = [
  ['workload', r => r.workload],
  ['writers', r => String(r.writers)],
  ['target', r => r.target],
  ['app writes/s', r => show(r.appWritesPerSec)],
  ['÷ C null FS', r => show(r.ceilingRatio)],
  ['app MB/s', r => show(r.appMBps)],
  ['write p50 µs', r => show(r.writeP50us)],
  ['p99 µs', r => show(r.writeP99us)],
  ['p99.9 µs', r => show(r.writeP999us)],
  ['delivered lines/s', r => show(r.e2eLinesPerSec)],
  ['delivery p50 ms', r => show(r.deliveryP50ms)],
  ['p99 ms', r => show(r.deliveryP99ms)],
  ['agent CPU µs/line', r => show(r.agentCpuUsPerLine)],
  ['agent CPU s/GB', r => show(r.agentCpuSecPerGB)],
  ['agent RSS MiB, all processes', rssCell],
  ['ring in use KiB', r => show(r.ringPeakKiB)],
  ['wire bytes/byte', r => show(r.wirePerByte)],
  ['lost', r => show(r.lost)],
  ['dup', r => show(r.duplicated)],
]

export function table (rows: Row[]): string {
  const head = `| ${COLUMNS.map(c => c[0]).join(' | ')} |`
  const rule = `|${COLUMNS.map(() => '---').join('|')}|`
  return [head, rule, ...rows.map(r => `| ${COLUMNS.map(c => c[1](r)).join(' | ')} |`)].join('\n')
}

/** Fills each as-fast-as-possible row's ratio to the C null FS row of the same workload and writers. */
export function fillCeilingRatios (rows: Row[]): void {
  for (const r of rows) {
    if (r.rate > 0 || r.appWritesPerSec === null) continue
    const c = rows.find(x => x.target === 'c-fuse' && x.workload === r.workload && x.writers === r.writers)
    if (c?.appWritesPerSec) r.ceilingRatio = Math.round(r.appWritesPerSec / c.appWritesPerSec * 100) / 100
  }
}

/** Lost or duplicated lines and other problems, one line each; empty when the run was clean. */
export function failures (rows: Row[]): string[] {
  const out: string[] = []
  for (const r of rows) {
    const where = `${r.workload} ×${r.writers} → ${r.target}`
    if (r.lost || r.duplicated) out.push(`${where}: lost ${r.lost}, duplicated ${r.duplicated}`)
    for (const p of r.problems) out.push(`${where}: ${p}`)
  }
  return out
}
