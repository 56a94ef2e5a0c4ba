// A tenant's stream: created by the first gateway that takes a batch for the tenant, with the retention, replica
// count and duplicate window every gateway asks for; a gateway started with other limits updates it. Its max_bytes
// is fitted to the room the cluster has (room.ts).
import {
  DiscardPolicy, JetStreamApiCodes, StorageType, type JetStreamManager, type StreamConfig,
} from '@nats-io/jetstream'
import { streamName, streamSubjects } from './subjects'
import { NoRoom, isNoRoom, sizesToTry } from './room'
import { formatBytes } from '../util/units'
import { log } from '../util/log'

export interface StreamLimits {
  replicas: number
  /** Per tenant stream: the oldest messages go first past it. */
  maxBytes: number
  /** 0 keeps messages regardless of age. */
  maxAgeMs: number
}

/** How long JetStream remembers a Nats-Msg-Id; resends after that are caught by the gateways' index. */
export const DUPLICATE_WINDOW_MS = 2 * 60 * 1000

const NS_PER_MS = 1_000_000

export function streamConfig (tenant: string, limits: StreamLimits): Partial<StreamConfig> & { name: string } {
  return {
    name: streamName(tenant),
    subjects: [streamSubjects(tenant)],
    num_replicas: limits.replicas,
    max_bytes: limits.maxBytes,
    max_age: limits.maxAgeMs * NS_PER_MS,
    // JetStream refuses a window longer than max_age.
    duplicate_window: (limits.maxAgeMs > 0 ? Math.min(DUPLICATE_WINDOW_MS, limits.maxAgeMs) : DUPLICATE_WINDOW_MS) *
      NS_PER_MS,
    // Reads ask any replica (direct get), not only the leader.
    allow_direct: true,
    // Retention drops the oldest; refusing new bytes would stall every application of the tenant.
    discard: DiscardPolicy.Old,
    storage: StorageType.File,
  }
}

/** A tenant's stream as this gateway found or made it. */
export interface Ensured {
  name: string
  /** The stream's max_bytes: `--retention-size`, or less where the cluster had no room for that. */
  maxBytes: number
}

/**
 * Creates the tenant's stream, or brings its limits to `limits`. Where the cluster has no room for
 * `limits.maxBytes` on every replica, the stream is fitted: the largest of the halvings down to `floorBytes` that
 * the cluster takes, with a warning. A stream that exists keeps what it holds: it is grown as far as there is room
 * and never shrunk to fit. Throws NoRoom when a new stream fits at no size.
 */
export async function ensureStream (jsm: JetStreamManager, tenant: string, limits: StreamLimits,
  floorBytes: number): Promise<Ensured> {
  const name = streamName(tenant)
  let have: StreamConfig | null = null
  try {
    have = (await jsm.streams.info(name)).config
  } catch (err) {
    if ((err as { code?: number }).code !== JetStreamApiCodes.StreamNotFound) throw err
  }
  const floor = Math.min(floorBytes, limits.maxBytes)
  let sizes = sizesToTry(limits.maxBytes, floor)
  const held = have?.max_bytes ?? 0
  if (held > 0 && held < limits.maxBytes) sizes = [...sizes.filter(s => s > held), held]
  let refusal = ''
  for (const size of sizes) {
    const want = streamConfig(tenant, { ...limits, maxBytes: size })
    try {
      if (have === null) {
        await jsm.streams.add(want)
      } else if (have.max_bytes !== want.max_bytes || have.max_age !== want.max_age ||
        have.num_replicas !== want.num_replicas) {
        await jsm.streams.update(name, { ...have, ...want })
      }
    } catch (err) {
      if (isNoRoom(err)) {
        refusal = (err as Error).message
        continue
      }
      const hint = limits.replicas > 1
        ? ' (a cluster smaller than --replicas, or a single nats-server, needs --replicas 1)'
        : ''
      throw new Error(`cannot set up stream ${name} with ${limits.replicas} replicas: ${(err as Error).message}${hint}`)
    }
    if (size < limits.maxBytes) warnFitted(tenant, name, limits, size, refusal)
    return { name, maxBytes: size }
  }
  if (have === null) throw new NoRoom(tenant, name, limits.maxBytes, floor, limits.replicas, refusal)
  // An existing stream goes on as it is: its bytes are the tenant's, and it takes batches as before.
  log('warn', 'jetstream', `tenant ${tenant}: stream ${name} is kept as it is (max_bytes ` +
    `${formatBytes(have.max_bytes)}, ${have.num_replicas} replica(s)): the cluster has no room for ` +
    `${formatBytes(limits.maxBytes)} on ${limits.replicas} replica(s) (${refusal})`)
  return { name, maxBytes: have.max_bytes }
}

function warnFitted (tenant: string, name: string, limits: StreamLimits, granted: number, refusal: string): void {
  log('warn', 'jetstream', `tenant ${tenant}: stream ${name} holds at most ${formatBytes(granted)}, not the ` +
    `${formatBytes(limits.maxBytes)} of --retention-size: the cluster has no room for more on ${limits.replicas} ` +
    `replica(s) (${refusal}); the oldest bytes go past that. Free disk or raise max_file_store on the nodes, or ` +
    'lower --retention-size', { tenant, stream: name, requested: limits.maxBytes, granted })
}
