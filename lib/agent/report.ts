// What an agent tells about itself: read by `logfs mount --json`, `logfs up` and the /metrics endpoint.
import type { PoolStats, TenantStats } from '../ring/intake'
import type { ShipperStats } from '../ship/shipper'
import type { FsStats } from '../fs/ops'
import type { HandoverMode } from './handover'

export interface AgentReport {
  mountpoint: string
  node: string
  gen: number
  tenants: TenantStats[]
  /** The pool tenants borrow from past their reserves. */
  pool: PoolStats
  ship: ShipperStats
  fs: FsStats
  /** How this agent came to serve the mount; takeovers and renewals (handovers given up) since the first. */
  handover: { mode: HandoverMode, takeovers: number, renewals: number }
  pendingBytes: number
  rssBytes: number
}
