// The write-path figures, one row each, one column per target, with the goal where there is one: the headline
// of a comparison run. Every value is read from the run's rows (bench/report.ts shows them all); nothing here is
// measured.
import { rssCell, show } from './report'
import type { Row } from './row'
import type { TargetName } from './targets'
import type { WorkloadId } from './workloads'

interface Goal { target: TargetName, min: number }

interface Figure {
  label: string
  workload: WorkloadId
  writers: number
  cell: (r: Row) => string
  /** The value a goal is judged on. */
  value?: (r: Row) => number | null
  goal?: Goal
}

/** A fixed-rate row whose writers fell behind says so: its figures are then those of a saturated target. */
function reached (r: Row): string {
  if (r.rate === 0 || r.appLinesPerSec === null || r.appLinesPerSec >= 0.9 * r.rate) return ''
  return r.workloadId === 'load10MB' ? ` (reached ${r.appMBps} MB/s)` : ` (reached ${r.appLinesPerSec} lines/s)`
}

const pair = (a: number | null, b: number | null): string => a === null && b === null ? '–' : `${show(a)} / ${show(b)}`

const FIGURES: Figure[] = [
  {
    label: 'write()/s ÷ C null FS, 200B lines, 1 writer', workload: 'max', writers: 1,
    cell: r => show(r.ceilingRatio), value: r => r.ceilingRatio, goal: { target: 'logfs', min: 0.85 },
  },
  {
    label: 'write()/s ÷ C null FS, 200B lines, 4 writers', workload: 'max', writers: 4,
    cell: r => show(r.ceilingRatio), value: r => r.ceilingRatio, goal: { target: 'logfs', min: 0.85 },
  },
  {
    label: 'delivered lines/s, 200B lines, 1 writer', workload: 'max', writers: 1,
    cell: r => show(r.e2eLinesPerSec), value: r => r.e2eLinesPerSec, goal: { target: 'logfs-writeback', min: 150_000 },
  },
  { label: 'delivered lines/s, 200B lines, 4 writers', workload: 'max', writers: 4, cell: r => show(r.e2eLinesPerSec) },
  {
    label: 'agent CPU µs/line at 10k lines/s', workload: 'rate10k', writers: 1,
    cell: r => show(r.agentCpuUsPerLine) + reached(r),
  },
  {
    label: 'write() p50 / p99 µs at 10k lines/s', workload: 'rate10k', writers: 1,
    cell: r => pair(r.writeP50us, r.writeP99us),
  },
  {
    label: 'agent CPU µs/line at 50k lines/s', workload: 'rate50k', writers: 1,
    cell: r => show(r.agentCpuUsPerLine) + reached(r),
  },
  {
    label: 'write() p50 / p99 µs at 50k lines/s', workload: 'rate50k', writers: 1,
    cell: r => pair(r.writeP50us, r.writeP99us),
  },
  { label: 'agent RSS MiB idle, all processes', workload: 'idle', writers: 0, cell: rssCell },
  {
    label: 'agent RSS MiB at ~10 MB/s, all processes', workload: 'load10MB', writers: 2,
    cell: r => rssCell(r) + reached(r),
  },
  { label: 'ring in use KiB at ~10 MB/s (peak)', workload: 'load10MB', writers: 2, cell: r => show(r.ringPeakKiB) },
  {
    label: 'delivery p50 / p99 ms at 1k lines/s', workload: 'delivery1k', writers: 1,
    cell: r => pair(r.deliveryP50ms, r.deliveryP99ms),
  },
  {
    label: 'delivery p50 / p99 ms at 5k lines/s', workload: 'delivery5k', writers: 1,
    cell: r => pair(r.deliveryP50ms, r.deliveryP99ms) + reached(r),
  },
  {
    label: 'delivery p50 / p99 ms at 10k lines/s', workload: 'rate10k', writers: 1,
    cell: r => pair(r.deliveryP50ms, r.deliveryP99ms) + reached(r),
  },
]

function judge (f: Figure, rows: Row[], skipped: Map<TargetName, string>): string {
  if (!f.goal || !f.value) return ''
  const { target, min } = f.goal
  const want = `${target} ≥ ${min}`
  const why = skipped.get(target)
  if (why) return `${want}: not measured, ${target} skipped (${why})`
  const r = rows.find(x => x.target === target && x.workloadId === f.workload && x.writers === f.writers)
  const v = r ? f.value(r) : null
  if (v === null) return `${want}: not measured`
  return `${want}: ${v >= min ? 'met' : 'NOT met'} (${v})`
}

/** The figures table; only targets that ran get a column. */
export function figures (rows: Row[], skipped: Map<TargetName, string>, order: TargetName[]): string {
  const targets = order.filter(t => rows.some(r => r.target === t))
  const out = [
    `| figure | ${targets.join(' | ')} | goal |`,
    `|---|${targets.map(() => '---').join('|')}|---|`,
  ]
  for (const f of FIGURES) {
    const mine = rows.filter(r => r.workloadId === f.workload && r.writers === f.writers)
    if (mine.length === 0) continue
    const cells = targets.map(t => {
      const r = mine.find(x => x.target === t)
      return r ? f.cell(r) : '–'
    })
    out.push(`| ${f.label} | ${cells.join(' | ')} | ${judge(f, rows, skipped)} |`)
  }
  return out.join('\n')
}
