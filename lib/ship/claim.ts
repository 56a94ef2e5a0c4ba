// The node a mount ships under, held on the server while the mount runs. Under a node another live agent holds,
// every batch is refused (`conflict`), so whatever the mount took could never ship: a mount checks at start that
// nobody else holds its node and is refused otherwise, then keeps one connection open that holds the node even
// while it has nothing to send.
import { ServerLink, RefusedError, type LinkOptions } from './link'
import { log } from '../util/log'

/**
 * The server drops a holder that does not answer its ping within 3 s (a rebooted node's half-open connection), so
 * a refused claim is tried again for a little longer than that before the node is taken as held.
 */
const SETTLE_MS = 4500
const RETRY_MS = 500
/** How often the hold is renewed: a connection that broke (a server restart) is made again and the node claimed. */
const RENEW_MS = 5000
/** How long a mount waits per gateway to learn whether its node is free: an unreachable server is no reason to wait. */
const CHECK_TIMEOUT_MS = 3000

/** Another live agent holds the node: the mount must not start. */
export class NodeHeldError extends Error {
  override name = 'NodeHeldError'
}

/** held: this agent holds the node; unchecked: the server could not be asked (unreachable, or it predates claims). */
export type ClaimResult = { held: true } | { held: false, why: string }

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

export class NodeClaim {
  private readonly link: ServerLink
  private timer: NodeJS.Timeout | undefined
  private refused = false

  constructor (link: LinkOptions, private readonly node: string, private readonly gen: number) {
    this.link = new ServerLink({ ...link, timeoutMs: Math.min(link.timeoutMs, CHECK_TIMEOUT_MS) })
  }

  /** Claims the node, waiting out a holder that may be a dead connection; throws NodeHeldError if it is alive. */
  async take (): Promise<ClaimResult> {
    const deadline = Date.now() + SETTLE_MS
    let unreachable = 0
    for (;;) {
      try {
        if (await this.link.claim(this.node, this.gen)) return { held: true }
        return { held: false, why: 'the server does not check node claims (it predates them)' }
      } catch (err) {
        const e = err as Error
        if (e instanceof RefusedError && e.code === 'conflict') {
          if (Date.now() >= deadline) throw new NodeHeldError(e.message.replace(/^server refused batch \(conflict\): /, ''))
          await sleep(RETRY_MS)
        } else if (e instanceof RefusedError || ++unreachable >= this.link.options.urls.length) {
          return { held: false, why: e.message }
        }
      }
    }
  }

  /** Keeps the node claimed until close(), saying so when another agent holds it meanwhile. */
  hold (): void {
    this.timer = setInterval(() => {
      this.link.claim(this.node, this.gen).then(() => {
        if (this.refused) log('info', 'agent', `node ${this.node} is held by this agent again`)
        this.refused = false
      }, (err: Error) => {
        // An unreachable server is the shipping workers' to report; a refusal is news only once.
        if (!(err instanceof RefusedError && err.code === 'conflict') || this.refused) return
        this.refused = true
        log('error', 'agent', `another agent holds node ${this.node}: this mount's batches are refused until it is `
          + `gone, and its writes wait or drop by its full policy; give each mount its own --node (${err.message})`)
      })
    }, RENEW_MS)
    this.timer.unref()
  }

  close (): void {
    clearInterval(this.timer)
    this.link.close()
  }
}
