// Node claims shared by every gateway of a cluster: the KV bucket LOGFS_CLAIMS, one key per node (base64url of its
// name), whose value names the agent generation holding it (format in lib/jetstream/README.md). A gateway writes
// only with compare-and-set on the key's revision, so two gateways never both take a node: the one whose write
// lands second reads again and finds the other's. A holding gateway refreshes its entries every REFRESH_MS; an
// entry not refreshed for STALE_MS (a gateway killed, or cut off) is taken over by the next claim.
import os from 'node:os'
import { JetStreamApiCodes, type JetStreamClient } from '@nats-io/jetstream'
import type { KV, KvEntry } from '@nats-io/kv'
import type { ClusterClaims, NodeHolder } from '../store/log-store'
import { log } from '../util/log'
import { openBucket } from './buckets'

export const CLAIMS_BUCKET = 'LOGFS_CLAIMS'
const VERSION = 1
const REFRESH_MS = 5000
/** Three missed refreshes: a gateway that is gone, not one that was slow once. */
const STALE_MS = 15_000
/** How long a claim keeps asking through a leader election of the bucket before its batch is nacked unavailable. */
const ASK_MS = 5000
const RETRY_MS = 200
/**
 * An agent's connections to two gateways (it moved, or one connection is not yet seen closed) make both refresh
 * the entry. One that saw the other refresh this recently leaves the entry to it when it lets go, rather than
 * delete a claim the other still holds.
 */
const SHARED_MS = 2 * REFRESH_MS

interface ClaimValue { version: number, gen: number, peer: string, gateway: string }
interface Held {
  gen: number
  peer: string
  revision: number
  /** When another gateway was last seen writing the entry for the same generation (0: never). */
  sharedAt: number
}

const keyOf = (node: string): string => Buffer.from(node).toString('base64url')

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

/** Another gateway wrote the key since this one read it. */
const lostRace = (err: unknown): boolean =>
  (err as { code?: number }).code === JetStreamApiCodes.StreamWrongLastSequence

/** A claim in a format this gateway does not read (a newer gateway's): not guessed at. */
class UnreadableClaim extends Error {}

function readValue (node: string, e: KvEntry): ClaimValue {
  let v: Partial<ClaimValue> = {}
  try { v = e.json<Partial<ClaimValue>>() } catch {}
  if (v.version !== VERSION || typeof v.gen !== 'number' || typeof v.peer !== 'string') {
    // The batch waits (unavailable) rather than risk two holders.
    throw new UnreadableClaim(`the claim of node ${node} in ${CLAIMS_BUCKET} is in a format this gateway does ` +
      `not read (version ${String(v.version)})`)
  }
  return v as ClaimValue
}

export class KvClaims implements ClusterClaims {
  private readonly held = new Map<string, Held>()
  /** Per node, the claim, refresh or release under way: a node's operations go one after another. */
  private readonly turns = new Map<string, Promise<unknown>>()
  private readonly timer: NodeJS.Timeout
  private readonly gateway = `${os.hostname()}:${process.pid}`
  private refreshFailing = false

  private constructor (private readonly kv: KV) {
    this.timer = setInterval(() => {
      for (const node of this.held.keys()) void this.inTurn(node, () => this.refresh(node))
    }, REFRESH_MS)
    this.timer.unref()
  }

  static async open (js: JetStreamClient, replicas: number): Promise<KvClaims> {
    return new KvClaims(await openBucket(js, CLAIMS_BUCKET, replicas))
  }

  holds (node: string, gen: number): boolean { return this.held.get(node)?.gen === gen }

  claim (node: string, gen: number, peer: string): Promise<NodeHolder | null> {
    return this.inTurn(node, () => this.take(node, gen, peer))
  }

  release (node: string, gen: number): void {
    void this.inTurn(node, () => this.give(node, gen))
  }

  private inTurn<T> (node: string, fn: () => Promise<T>): Promise<T> {
    const turn = (this.turns.get(node) ?? Promise.resolve()).then(fn)
    const settled = turn.catch(() => {})
    this.turns.set(node, settled)
    void settled.then(() => { if (this.turns.get(node) === settled) this.turns.delete(node) })
    return turn
  }

  private value (gen: number, peer: string): string {
    return JSON.stringify({ version: VERSION, gen, peer, gateway: this.gateway } satisfies ClaimValue)
  }

  private async take (node: string, gen: number, peer: string): Promise<NodeHolder | null> {
    if (this.holds(node, gen)) return null
    const key = keyOf(node)
    const deadline = Date.now() + ASK_MS
    for (;;) {
      try {
        const e = await this.kv.get(key)
        const live = e !== null && e.operation === 'PUT'
        const v = live ? readValue(node, e) : null
        if (v !== null && v.gen !== gen && Date.now() - e!.created.getTime() < STALE_MS) {
          return { gen: v.gen, peer: v.peer }
        }
        const value = this.value(gen, peer)
        const revision = e === null ? await this.kv.create(key, value) : await this.kv.update(key, value, e.revision)
        if (v !== null && v.gen !== gen) {
          log('info', 'server', `node ${node}: took over the claim of generation ${v.gen} (from ${v.peer}, via ` +
            `gateway ${v.gateway}), not refreshed for ${STALE_MS / 1000} s`)
        }
        const shared = v !== null && v.gen === gen && v.gateway !== this.gateway
        this.held.set(node, { gen, peer, revision, sharedAt: shared ? Date.now() : 0 })
        return null
      } catch (err) {
        // Another gateway wrote the key between the read and the write: read it again.
        if (lostRace(err)) continue
        if (err instanceof UnreadableClaim) throw err
        if (Date.now() > deadline) {
          throw new Error(`the cluster's node claims (${CLAIMS_BUCKET}) did not answer: ${(err as Error).message}`)
        }
        await sleep(RETRY_MS)
      }
    }
  }

  /** Keeps a held entry fresh; when another generation took it meanwhile, this gateway holds it no longer. */
  private async refresh (node: string): Promise<void> {
    const h = this.held.get(node)
    if (!h) return
    const key = keyOf(node)
    try {
      try {
        h.revision = await this.kv.update(key, this.value(h.gen, h.peer), h.revision)
      } catch (err) {
        if (!lostRace(err)) throw err
        // Written by another gateway: one serving the same generation (the agent has connections to both), or
        // one that took the node over from a claim this gateway could not refresh in time.
        const e = await this.kv.get(key)
        const v = e !== null && e.operation === 'PUT' ? readValue(node, e) : null
        if (v !== null && v.gen !== h.gen) {
          this.held.delete(node)
          log('warn', 'server', `node ${node}: generation ${v.gen} (from ${v.peer}, via gateway ${v.gateway}) ` +
            `took the claim this gateway could not refresh; batches of generation ${h.gen} here are asked of the ` +
            'cluster again')
          return
        }
        if (v !== null && v.gateway !== this.gateway) h.sharedAt = Date.now()
        const value = this.value(h.gen, h.peer)
        h.revision = e === null ? await this.kv.create(key, value) : await this.kv.update(key, value, e.revision)
      }
      if (this.refreshFailing) log('info', 'server', `node claims are refreshed in ${CLAIMS_BUCKET} again`)
      this.refreshFailing = false
    } catch (err) {
      // The entry stays valid until STALE_MS, and no gateway can take it meanwhile without the bucket either.
      if (!this.refreshFailing) {
        log('warn', 'server', `cannot refresh node claims in ${CLAIMS_BUCKET}: ${(err as Error).message}`)
      }
      this.refreshFailing = true
    }
  }

  private async give (node: string, gen: number): Promise<void> {
    const h = this.held.get(node)
    if (!h || h.gen !== gen) return
    this.held.delete(node)
    if (Date.now() - h.sharedAt < SHARED_MS) return
    // Only the revision this gateway wrote is deleted: a newer one is another gateway's, which keeps it. An entry
    // left behind (the bucket unreachable, or shared) goes stale.
    await this.kv.delete(keyOf(node), { previousSeq: h.revision }).catch(() => {})
  }

  /** Gives up every claim this gateway holds, and waits for what is under way. */
  async close (): Promise<void> {
    clearInterval(this.timer)
    for (const [node, h] of this.held) this.release(node, h.gen)
    await Promise.all(this.turns.values())
  }
}
