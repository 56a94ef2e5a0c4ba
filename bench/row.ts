// One result row of the comparison benchmark: what bench/measure.ts measures, and bench/chart.ts, bench/report.ts
// and bench/figures.ts show. Null is "does not apply" (no writes when idle, nothing delivered to local disk).
import type { TargetName } from './targets'
import type { WorkloadId } from './workloads'

export interface RssShare { name: string, pid: number, MiB: number }

export interface Row {
  workload: string
  workloadId: WorkloadId
  writers: number
  target: TargetName
  /** Lines written, all writers together. */
  lines: number
  /** Lines per second asked of all writers together; 0 for as fast as possible. */
  rate: number
  appWritesPerSec: number | null
  /** Lines per second the writers reached; below `rate` when the target could not keep up. */
  appLinesPerSec: number | null
  appMBps: number | null
  /** write() latency: the worst writer's quantile (writers report quantiles, not samples). */
  writeP50us: number | null
  writeP99us: number | null
  writeP999us: number | null
  /** app writes/s over the C null FS's in the same workload and run; as-fast-as-possible workloads only. */
  ceilingRatio: number | null
  /** Delivered lines/s: all lines over the time from the first line made to the last line arrived. */
  e2eLinesPerSec: number | null
  deliveryP50ms: number | null
  deliveryP99ms: number | null
  /** CPU of all the agent's processes, per line written and per GB written. */
  agentCpuUsPerLine: number | null
  agentCpuSecPerGB: number | null
  /** The highest sampled sum of VmRSS over all the agent's processes, and each one's share in that sample. */
  agentRssMiB: number | null
  agentRss: RssShare[]
  /** The most ring bytes in use the agent reported, where watched. */
  ringPeakKiB: number | null
  wirePerByte: number | null
  lost: number | null
  duplicated: number | null
  /** What went wrong besides lost and duplicated lines; any makes the run fail. */
  problems: string[]
}
