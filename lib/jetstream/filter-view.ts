// What a gateway knows of one stream's token filters: the descriptors of its groups, followed by a watch of the
// bucket's `g.>` keys (small: a few KiB per group of up to 64 MiB of messages). Partitions are not watched; queries
// fetch the ones they need (token-filters.ts).
import type { KV } from '@nats-io/kv'
import { log } from '../util/log'
import { FilterFormatError, decodeGroup, type Group } from './filter-format'

const RETRY_MS = 2000

export class FilterView {
  /** Groups by first sequence, ascending; they do not overlap. */
  private list: Group[] = []
  private readonly byKey = new Map<string, Group>()
  kv: KV | null = null
  private stopped = false
  private stopWatch: (() => void) | null = null
  private unreadable = 0

  /** `open` gives the bucket (made, or bound to when another gateway made it). */
  constructor (readonly bucket: string, private readonly open: () => Promise<KV>) {}

  get groups (): Group[] { return this.list }

  start (): void { void this.run() }

  private async run (): Promise<void> {
    while (!this.stopped) {
      try {
        this.kv ??= await this.open()
        const watch = await this.kv.watch({ key: 'g.>' })
        this.stopWatch = () => watch.stop()
        // A new watch delivers every descriptor there is again; one deleted meanwhile must not linger.
        this.byKey.clear()
        this.list = []
        for await (const e of watch) {
          if (this.stopped) break
          if (e.operation === 'PUT') this.put(e.key, e.value)
          else this.remove(e.key)
        }
      } catch {
        // No bucket yet (no builder has made it), or the watch was cut: look again.
      }
      if (!this.stopped) await new Promise(resolve => setTimeout(resolve, RETRY_MS))
    }
  }

  private put (key: string, value: Uint8Array): void {
    let g: Group
    try {
      g = decodeGroup(value)
    } catch (err) {
      if (!(err instanceof FilterFormatError)) throw err
      // Its messages are read whole, as any not filtered yet.
      if (this.unreadable++ === 0) log('warn', 'jetstream', `bucket ${this.bucket}: skipped ${key}: ${err.message}`)
      return
    }
    this.remove(key)
    this.byKey.set(key, g)
    this.list = [...this.byKey.values()].sort((a, b) => a.first - b.first)
  }

  private remove (key: string): void {
    if (!this.byKey.delete(key)) return
    this.list = [...this.byKey.values()].sort((a, b) => a.first - b.first)
  }

  /** The group covering sequence `seq`, or null when none does (not filtered yet). */
  groupOf (seq: number): Group | null {
    const x = this.list
    let lo = 0
    let hi = x.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (x[mid].last < seq) lo = mid + 1
      else hi = mid
    }
    const g = x[lo]
    return g !== undefined && g.first <= seq ? g : null
  }

  stop (): void {
    this.stopped = true
    this.stopWatch?.()
  }
}
