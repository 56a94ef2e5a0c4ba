// A tenant's stream: created by the first gateway that takes a batch for the tenant, with the retention, replica
// count and duplicate window every gateway asks for; a gateway started with other limits updates it.
import {
  DiscardPolicy, JetStreamApiCodes, StorageType, type JetStreamManager, type StreamConfig,
} from '@nats-io/jetstream'
import { streamName, streamSubjects } from './subjects'

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

/** Creates the tenant's stream, or brings its limits to `limits`; resolves to its name. */
export async function ensureStream (jsm: JetStreamManager, tenant: string, limits: StreamLimits): Promise<string> {
  const want = streamConfig(tenant, limits)
  let have: StreamConfig | null = null
  try {
    have = (await jsm.streams.info(want.name)).config
  } catch (err) {
    if ((err as { code?: number }).code !== JetStreamApiCodes.StreamNotFound) throw err
  }
  try {
    if (have === null) {
      await jsm.streams.add(want)
    } else if (have.max_bytes !== want.max_bytes || have.max_age !== want.max_age ||
      have.num_replicas !== want.num_replicas) {
      await jsm.streams.update(want.name, { ...have, ...want })
    }
  } catch (err) {
    throw new Error(`cannot set up stream ${want.name} with ${limits.replicas} replicas: ${(err as Error).message}` +
      (limits.replicas > 1 ? ' (a cluster smaller than --replicas, or a single nats-server, needs --replicas 1)' : ''))
  }
  return want.name
}
