// `--repeat N`: on a noisy machine one run of a target can land in someone else's burst. Each workload's targets
// run N times, interleaved (a, b, c, a, b, c, …), and each figure is the median of its N values, so one burst
// moves no figure. Lost and duplicated lines are summed: a loss in any round is a loss.
import type { Row } from './row'

function median (values: Array<number | null>): number | null {
  const v = values.filter((x): x is number => x !== null).sort((a, b) => a - b)
  if (v.length === 0) return null
  const mid = v.length >> 1
  if (v.length % 2) return v[mid]
  // Counts stay whole (5064, not 5064.5); measured quantities keep two decimals.
  const mean = (v[mid - 1] + v[mid]) / 2
  return v.every(Number.isInteger) ? Math.round(mean) : Math.round(mean * 100) / 100
}

const sum = (values: Array<number | null>): number | null =>
  values.every(v => v === null) ? null : values.reduce<number>((n, v) => n + (v ?? 0), 0)

/** The figures that are a median over rounds (ceilingRatio is computed from the medians afterwards). */
const MEDIAN = [
  'appWritesPerSec', 'appLinesPerSec', 'appMBps', 'writeP50us', 'writeP99us', 'writeP999us', 'e2eLinesPerSec',
  'deliveryP50ms', 'deliveryP99ms', 'agentCpuUsPerLine', 'agentCpuSecPerGB', 'ringPeakKiB', 'wirePerByte',
] as const satisfies ReadonlyArray<keyof Row>

/** One row from the rounds of the same workload, writers and target. */
export function merge (rounds: Row[]): Row {
  if (rounds.length === 1) return rounds[0]
  const out: Row = { ...rounds[0], problems: rounds.flatMap(r => r.problems) }
  for (const k of MEDIAN) Object.assign(out, { [k]: median(rounds.map(r => r[k])) })
  // Memory: the round with the median sum, so the per-process shares add up to the figure shown.
  const byRss = rounds.filter(r => r.agentRssMiB !== null).sort((a, b) => a.agentRssMiB! - b.agentRssMiB!)
  const mid = byRss[(byRss.length - 1) >> 1]
  out.agentRssMiB = mid?.agentRssMiB ?? null
  out.agentRss = mid?.agentRss ?? []
  out.lost = sum(rounds.map(r => r.lost))
  out.duplicated = sum(rounds.map(r => r.duplicated))
  return out
}

/** Rows of all rounds, merged per workload, writers and target, in first-seen order. */
export function mergeRounds (rows: Row[]): Row[] {
  const groups = new Map<string, Row[]>()
  for (const r of rows) {
    const key = `${r.workloadId}\n${r.workload}\n${r.writers}\n${r.target}`
    groups.set(key, [...(groups.get(key) ?? []), r])
  }
  return [...groups.values()].map(merge)
}
