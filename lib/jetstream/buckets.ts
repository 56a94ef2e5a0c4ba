// The KV buckets gateways share beside the tenant streams (lib/jetstream/README.md), replicated as the streams are.
import type { JetStreamClient } from '@nats-io/jetstream'
import { Kvm, type KV } from '@nats-io/kv'
import { retry } from './retry'

/** How long a gateway keeps trying to set a bucket up: a cluster that has just started elects leaders first. */
const SETUP_MS = 30_000
const RETRY_MS = 250

/**
 * Opens bucket `name`, creating it when no gateway has yet; each key keeps only its latest value. Tried again on
 * failure: gateways started together create it together, and the cluster can leave all but one of them without an
 * answer (a timeout), after which the bucket is there to open.
 */
export function openBucket (js: JetStreamClient, name: string, replicas: number): Promise<KV> {
  return retry({ what: `setting up bucket ${name} with ${replicas} replicas`, forMs: SETUP_MS, everyMs: RETRY_MS },
    () => new Kvm(js).create(name, { replicas, history: 1 }))
}
