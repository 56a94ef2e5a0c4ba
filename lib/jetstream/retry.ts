// Trying a cluster request again until it answers or a deadline passes. A cluster that has just started (or lost a
// node) answers nothing, or times out, until its nodes have elected leaders; a gateway waits for that, and says so in
// its log while it waits, so that a slow start is never a silent one.
import { log } from '../util/log'

export interface Patience {
  /** What is being waited for, as the log and the final error name it. */
  what: string
  /** How long to keep trying, in ms. */
  forMs: number
  /** The pause between tries, in ms. */
  everyMs: number
}

/** The number of failed tries between two log lines (the first failure is logged). */
const LOG_EVERY = 10

export async function retry<T> (p: Patience, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + p.forMs
  for (let tries = 1; ; tries++) {
    try {
      return await fn()
    } catch (err) {
      const why = (err as Error).message
      if (Date.now() > deadline) throw new Error(`${p.what}: ${why}`)
      if (tries % LOG_EVERY === 1) log('info', 'jetstream', `${p.what}: ${why}; trying again`)
      await new Promise(resolve => setTimeout(resolve, p.everyMs))
    }
  }
}
