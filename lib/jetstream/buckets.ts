// The KV buckets gateways share beside the tenant streams (lib/jetstream/README.md), replicated as the streams are.
import type { JetStreamClient } from '@nats-io/jetstream'
import { Kvm, type KV } from '@nats-io/kv'

/** Opens bucket `name`, creating it when no gateway has yet; each key keeps only its latest value. */
export async function openBucket (js: JetStreamClient, name: string, replicas: number): Promise<KV> {
  try {
    return await new Kvm(js).create(name, { replicas, history: 1 })
  } catch (err) {
    throw new Error(`cannot set up bucket ${name} with ${replicas} replicas: ${(err as Error).message}`)
  }
}
