// One result row of the comparison benchmark: what bench/run.ts measures, and bench/chart.ts and the tables show.
import type { TargetName } from './targets'

export interface Row {
  workload: string
  writers: number
  target: TargetName
  lines: number
  appWritesPerSec: number
  appMBps: number
  writeP50us: number
  writeP99us: number
  writeP999us: number
  e2eLinesPerSec: number | null
  deliveryP50ms: number | null
  deliveryP99ms: number | null
  agentCpuSecPerGB: number | null
  agentPeakRssMiB: number | null
  wirePerByte: number | null
  lost: number | null
  duplicated: number | null
}
