// What an agent tells about itself: read by `logfs mount --json`, `logfs up` and the /metrics endpoint.
import type { TenantStats } from '../ring/intake'
import type { ShipperStats } from '../ship/shipper'
import type { FsStats } from '../fs/ops'

export interface AgentReport {
  mountpoint: string
  node: string
  gen: number
  tenants: TenantStats[]
  ship: ShipperStats
  fs: FsStats
  pendingBytes: number
  rssBytes: number
}
