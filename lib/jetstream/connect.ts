// A gateway's connection to the cluster, and the wait until the cluster's JetStream answers.
import { connect } from '@nats-io/transport-node'
import type { NatsConnection } from '@nats-io/nats-core'
import type { JetStreamAccountStats, JetStreamManager } from '@nats-io/jetstream'
import { retry } from './retry'

const READY_MS = 60_000

/** Connects to the seeds; the connection reconnects for good after, as a gateway outlives node restarts. */
export async function connectCluster (servers: string[]): Promise<NatsConnection> {
  try {
    // noAsyncTraces: otherwise every request (each publish, each direct get) builds an Error for its stack, in
    // case it fails; at the ingest ceiling that was about 4 % of the gateway's CPU (bench:scaleout, --cpu-prof).
    return await connect({
      servers, name: 'logfs-gateway', maxReconnectAttempts: -1, reconnectTimeWait: 250, noAsyncTraces: true,
    })
  } catch (err) {
    throw new Error(`cannot reach the JetStream cluster at ${servers.join(', ')}: ${(err as Error).message}`)
  }
}

/**
 * Waits for the cluster's JetStream to answer: a cluster that has just started (or lost a node) answers nothing
 * until its nodes have elected a meta leader.
 */
export function ready (jsm: JetStreamManager, servers: string[]): Promise<JetStreamAccountStats> {
  return retry({ what: `waiting for JetStream at ${servers.join(', ')}`, forMs: READY_MS, everyMs: 500 },
    () => jsm.getAccountInfo())
}
