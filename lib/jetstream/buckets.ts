// The KV buckets gateways share beside the tenant streams (lib/jetstream/README.md), replicated as the streams are.
import type { JetStreamClient } from '@nats-io/jetstream'
import { Kvm, type KV } from '@nats-io/kv'

/** How long a gateway keeps trying to set a bucket up: a cluster that has just started elects leaders first. */
const SETUP_MS = 30_000
const RETRY_MS = 250

/**
 * Opens bucket `name`, creating it when no gateway has yet; each key keeps only its latest value. Tried again on
 * failure: gateways started together create it together, and the cluster can leave all but one of them without an
 * answer (a timeout), after which the bucket is there to open.
 */
export async function openBucket (js: JetStreamClient, name: string, replicas: number): Promise<KV> {
  const deadline = Date.now() + SETUP_MS
  for (;;) {
    try {
      return await new Kvm(js).create(name, { replicas, history: 1 })
    } catch (err) {
      if (Date.now() > deadline) {
        throw new Error(`cannot set up bucket ${name} with ${replicas} replicas: ${(err as Error).message}`)
      }
      await new Promise(resolve => setTimeout(resolve, RETRY_MS))
    }
  }
}
