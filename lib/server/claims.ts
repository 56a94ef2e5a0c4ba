// Which agent generation speaks for a node. Sources are `node/path` and cursors are (gen, offset): two live agents
// under one node name (two hosts given one --node) would interleave two different files as one source. The first
// generation to send a batch or a claim holds the node while any of its connections is open; a different
// generation is refused with a `conflict` nack until then: a mount refuses to start, a running agent keeps its
// bytes. Behind a store whose servers share claims (gateways of one cluster), a node this server takes is asked of
// the cluster too, so that the generations on two gateways are held apart as those on one are.
import type { WebSocket } from 'ws'
import type { ClusterClaims } from '../store/log-store'

/** How long a holder may take to answer a ping before its connection is taken for dead. */
const PROBE_MS = 3000

interface Claim { gen: number, peer: string, conns: Set<WebSocket> }

export interface Conflict { node: string, holderGen: number, holderPeer: string }

export class NodeClaims {
  private readonly claims = new Map<string, Claim>()
  private readonly probing = new WeakSet<WebSocket>()

  constructor (private readonly cluster?: ClusterClaims) {}

  /**
   * Takes or joins the claim on `node` for `gen`; returns the conflict when another generation holds it. A promise
   * when the cluster must be asked (a node this server does not hold there yet); it rejects when the cluster
   * cannot be asked.
   */
  claim (node: string, gen: number, ws: WebSocket, peer: string): Conflict | null | Promise<Conflict | null> {
    let held = this.claims.get(node)
    if (held === undefined || held.conns.size === 0) {
      held = { gen, peer, conns: new Set([ws]) }
      this.claims.set(node, held)
    } else if (held.gen === gen) {
      held.conns.add(ws)
    } else {
      // A node that rebooted leaves a half-open connection that would hold its name forever: ask it to prove it
      // is alive, and let the refused agent's next retry in once it is gone.
      for (const c of held.conns) this.probe(c)
      return { node, holderGen: held.gen, holderPeer: held.peer }
    }
    if (!this.cluster || this.cluster.holds(node, gen)) return null
    const claim = held
    return this.cluster.claim(node, gen, peer).then(holder => {
      if (holder === null) return null
      // An agent on another server holds the node: what this server took for it is no claim.
      if (this.claims.get(node) === claim) this.claims.delete(node)
      return { node, holderGen: holder.gen, holderPeer: holder.peer }
    })
  }

  /** A closed connection gives up what it held. */
  release (ws: WebSocket): void {
    for (const [node, c] of this.claims) {
      if (!c.conns.delete(ws) || c.conns.size > 0) continue
      this.claims.delete(node)
      this.cluster?.release(node, c.gen)
    }
  }

  private probe (ws: WebSocket): void {
    if (this.probing.has(ws)) return
    this.probing.add(ws)
    const timer = setTimeout(() => ws.terminate(), PROBE_MS)
    ws.once('pong', () => { clearTimeout(timer); this.probing.delete(ws) })
    ws.once('close', () => clearTimeout(timer))
    ws.ping()
  }
}
