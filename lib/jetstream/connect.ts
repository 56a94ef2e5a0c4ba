// A gateway's connection to the cluster, and the wait until the cluster's JetStream answers.
import { connect } from '@nats-io/transport-node'
import type { NatsConnection } from '@nats-io/nats-core'
import type { JetStreamAccountStats, JetStreamManager } from '@nats-io/jetstream'
import { log } from '../util/log'

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
export async function ready (jsm: JetStreamManager, servers: string[]): Promise<JetStreamAccountStats> {
  const deadline = Date.now() + READY_MS
  for (let tries = 1; ; tries++) {
    try {
      return await jsm.getAccountInfo()
    } catch (err) {
      if (Date.now() > deadline) throw err
      if (tries % 10 === 1) {
        log('info', 'jetstream', `waiting for JetStream at ${servers.join(', ')}: ${(err as Error).message}`)
      }
      await new Promise(resolve => setTimeout(resolve, 500))
    }
  }
}
