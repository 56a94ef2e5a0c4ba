// Who builds a stream's token filters: the gateway holding the `lease` key of its filters bucket. The holder
// renews it every RENEW_MS with compare-and-set on its revision; a lease not renewed for STALE_MS (by the entry's
// server time) is taken over, with compare-and-set too, so of gateways trying at once one wins.
import os from 'node:os'
import type { KV } from '@nats-io/kv'
import { LEASE_KEY } from './filter-format'

export const RENEW_MS = 2000
export const STALE_MS = 10_000

export class Lease {
  private revision = 0
  private renewing = false
  held = false

  constructor (private readonly kv: KV, private readonly id: string) {}

  /** Takes the lease when it is free or stale; whether this gateway holds it now. */
  async acquire (): Promise<boolean> {
    const value = this.value()
    try {
      const e = await this.kv.get(LEASE_KEY)
      if (e === null) {
        this.revision = await this.kv.create(LEASE_KEY, value)
      } else if (e.operation !== 'PUT' || Date.now() - e.created.getTime() > STALE_MS ||
        this.holder(e.value) === this.id) {
        this.revision = await this.kv.update(LEASE_KEY, value, e.revision)
      } else {
        return (this.held = false)
      }
      return (this.held = true)
    } catch {
      // Another gateway wrote it first, or the bucket cannot be reached: not ours.
      return (this.held = false)
    }
  }

  /** The holder's id, and its host and pid for whoever looks at the bucket. */
  private value (): string {
    return JSON.stringify({ holder: this.id, host: os.hostname(), pid: process.pid, at: Date.now() })
  }

  private holder (value: Uint8Array): string | null {
    try {
      return (JSON.parse(Buffer.from(value).toString()) as { holder?: string }).holder ?? null
    } catch {
      return null
    }
  }

  /** Renews a held lease; false (and no longer held) when another gateway took it or it could not be written. */
  async renew (): Promise<boolean> {
    // A renewal still waiting for its answer holds the revision the next one would need.
    if (!this.held || this.renewing) return this.held
    this.renewing = true
    try {
      this.revision = await this.kv.update(LEASE_KEY, this.value(), this.revision)
    } catch {
      this.held = false
    } finally {
      this.renewing = false
    }
    return this.held
  }

  /** Gives a held lease up, so another gateway need not wait for it to go stale. */
  async release (): Promise<void> {
    if (!this.held) return
    this.held = false
    await this.kv.delete(LEASE_KEY, { previousSeq: this.revision }).catch(() => {})
  }
}
