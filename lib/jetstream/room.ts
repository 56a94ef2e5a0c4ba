// Room in the cluster for a tenant's stream. JetStream reserves a stream's max_bytes on every replica's node when
// the stream is created (or grown), against the node's max_file_store (by default 75% of the free disk of its
// store_dir) and the account's limits; a stream that does not fit is refused. The account API reports no server
// limit, so a gateway finds the room only by asking for a size.
import type { JetStreamAccountStats } from '@nats-io/jetstream'
import { LastingRefusal } from '../store/log-store'
import { formatBytes } from '../util/units'

/** The smallest stream a gateway fits a tenant into: below this retention would keep little of a busy tenant. */
export const MIN_STREAM_BYTES = 64 * 1024 * 1024

/** JetStream's error codes for a stream that does not fit. */
const NO_PEERS = 10005 // clustered: "no suitable peers for placement, insufficient storage"
const INSUFFICIENT_RESOURCES = 10023
const STORAGE_EXCEEDED = 10047 // a single server, or the account's max_storage

/** Whether JetStream refused a stream for lack of storage (not for another placement reason, e.g. too few nodes). */
export function isNoRoom (err: unknown): boolean {
  const { code, message } = err as { code?: number, message?: string }
  if (code === STORAGE_EXCEEDED || code === INSUFFICIENT_RESOURCES) return true
  return code === NO_PEERS && /insufficient storage/i.test(message ?? '')
}

/** Sizes to ask for, largest first: `want`, halved while that stays above `floor`, then `floor`. */
export function sizesToTry (want: number, floor: number): number[] {
  if (want <= floor) return [want]
  const sizes: number[] = []
  for (let s = want; s > floor; s = Math.floor(s / 2)) sizes.push(s)
  sizes.push(floor)
  return sizes
}

/** The cluster refused a tenant's stream at every size down to the floor: the tenant's batches cannot be stored. */
export class NoRoom extends LastingRefusal {
  constructor (readonly tenant: string, stream: string, want: number, floor: number, replicas: number,
    cause: string) {
    super(`no room in the JetStream cluster for tenant ${tenant}: stream ${stream} was refused at every size ` +
      `from ${formatBytes(want)} down to ${formatBytes(floor)} on ${replicas} replica(s) (${cause}); each ` +
      "replica's node reserves the size in its max_file_store (nats-server's default: 75% of its free disk): " +
      'free disk or raise max_file_store on the nodes, or lower --retention-size')
  }
}

/** A warning when the account's limits, where it reports any, cannot hold one tenant stream as asked. */
export function accountWarning (info: JetStreamAccountStats, maxBytes: number, replicas: number): string | null {
  const { max_storage: total, storage_max_stream_bytes: perStream } = info.limits
  const want = maxBytes * replicas
  const used = Math.max(info.storage, info.reserved_storage ?? 0)
  if (perStream > 0 && maxBytes > perStream) {
    return `--retention-size ${formatBytes(maxBytes)} is over the account's largest stream ` +
      `(${formatBytes(perStream)}): tenant streams will be fitted smaller`
  }
  if (total > 0 && want > total - used) {
    return `--retention-size ${formatBytes(maxBytes)} on ${replicas} replica(s) is over what the account can ` +
      `still reserve (${formatBytes(Math.max(0, total - used))}): tenant streams will be fitted smaller`
  }
  return null
}
