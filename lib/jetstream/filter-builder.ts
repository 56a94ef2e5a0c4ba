// Builds one tenant stream's token filters, on whichever gateway holds the bucket's lease (filter-lease.ts). It
// reads the stream's messages from `next` (the first sequence in no group): their headers from a consumer of its own
// until it reaches what the stream's mirror delivers, then from the mirror's tap (mirror-tap.ts); their bytes from
// the gateway's message cache. It cuts blocks (filter-blocks.ts), and writes a group of up to GROUP_BLOCKS blocks at
// a time: its partitions, then its descriptor with create (a descriptor that exists was committed by another
// builder: this one stops), then `next` with compare-and-set. A builder killed at any point leaves `next` where a
// new holder redoes its work from.
import crypto from 'node:crypto'
import type { JetStreamClient, JetStreamManager, Consumer } from '@nats-io/jetstream'
import type { KV } from '@nats-io/kv'
import { DeliverPolicy } from '@nats-io/jetstream'
import { log } from '../util/log'
import { msgIdOf, readRun } from './message'
import { Gone, type Payloads } from './payloads'
import { sourceOfSubject } from './subjects'
import type { Delivered } from './mirror'
import type { Feed } from './mirror-tap'
import { BlockCutter, type Previous } from './filter-blocks'
import { Lease, RENEW_MS } from './filter-lease'
import {
  NEXT_KEY, decodeGroup, encodeGroup, groupKey, groupOf, partitionFilters, partitionKey, partitionPrefix,
  type FilteredBlock, type Group,
} from './filter-format'

/**
 * The most blocks per group (64 MiB of messages). A group costs PARTITIONS + 2 replicated KV writes whatever its
 * size: at 64 blocks those writes cost the cluster about 5 ms of CPU per MB ingested at the ceiling, a third
 * of what storing the bytes costs it (bench:scaleout); at 256, about nothing. A one-token search reads the same
 * bytes either way: a partition's rows are a bit per block.
 */
export const GROUP_BLOCKS = 256
/**
 * A stream idle this long has its pending bytes cut into a block, and blocks waiting this long are grouped: the
 * part no filter covers is at most this much of the stream's ingest (or a group), however slowly it fills.
 */
export const IDLE_MS = 5000
/** Messages per fetch: at most max_payload each (1 MiB by default). */
const FETCH_MESSAGES = 16
const FETCH_EXPIRES_MS = 1000
const RETRY_MS = 2000

/** One batch of a consumer's messages, as the mirror delivers them. */
async function fetchHeaders (consumer: Consumer, stream: string): Promise<Delivered[]> {
  const batch = await consumer.fetch({ max_messages: FETCH_MESSAGES, expires: FETCH_EXPIRES_MS })
  const out: Delivered[] = []
  for await (const m of batch) out.push({ stream, seq: m.seq, subject: m.subject, headers: m.headers })
  return out
}

/** The lease was lost, or another builder committed the group: this session stops. */
class Lost extends Error {}

export class FilterBuilder {
  private readonly id = crypto.randomBytes(4).toString('hex')
  private readonly lease: Lease
  private stopped = false
  private running: Promise<void> | null = null
  private renewTimer: NodeJS.Timeout | null = null
  groupsWritten = 0
  private lastError = ''

  /** `groups` are the descriptors the gateway's view of the bucket holds, for retention. */
  constructor (private readonly js: JetStreamClient, private readonly jsm: JetStreamManager,
    private readonly kv: KV, private readonly bucket: string, readonly stream: string,
    private readonly payloads: Payloads, private readonly previous: Previous, private readonly groups: () => Group[],
    private readonly feed: Feed<Delivered>) {
    this.lease = new Lease(kv, this.id)
  }

  start (): void { this.running = this.run() }

  private async run (): Promise<void> {
    while (!this.stopped) {
      if (await this.lease.acquire()) {
        this.renewTimer = setInterval(() => { void this.lease.renew() }, RENEW_MS)
        try {
          await this.session()
        } catch (err) {
          // Logged once per cause: a builder that keeps failing tries again every RETRY_MS.
          const why = (err as Error).message
          if (!(err instanceof Lost) && !this.stopped && why !== this.lastError) {
            log('warn', 'jetstream', `token filters of ${this.stream}: ${why}`)
          }
          this.lastError = why
        }
        clearInterval(this.renewTimer)
        if (this.stopped) await this.lease.release()
      }
      if (!this.stopped) await new Promise(resolve => setTimeout(resolve, RETRY_MS))
    }
  }

  /** Builds while the lease is held. */
  private async session (): Promise<void> {
    const start = await this.resume()
    let revision = start.revision
    const cutter = new BlockCutter(this.previous)
    let blocks: FilteredBlock[] = []
    let first = start.next
    // The messages' headers come from the stream's mirror (the index's consumer) once this builder has read up to
    // where its tap starts; before that, from a headers-only consumer of its own. The bytes come from the
    // gateway's cache where it published them (the cluster need not send them again; measured: delivering every
    // payload to the builder cost the cluster as much CPU per MB as the builder itself), else by direct get.
    const tap = this.feed.tap()
    let consumer: Consumer | null = null
    /** The last sequence read. */
    let read = start.next - 1
    let lastMessage = Date.now()
    let lastPrune = 0
    /** When the oldest block waiting for its group was cut. */
    let waitingSince = Infinity
    try {
      while (!this.stopped && this.lease.held) {
        const before = blocks.length
        if (read < tap.from) {
          consumer ??= await this.js.consumers.get(this.stream, {
            deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: read + 1, headers_only: true,
          })
        } else if (consumer !== null) {
          void consumer.delete().catch(() => {})
          consumer = null
        }
        const messages = consumer !== null ? await fetchHeaders(consumer, this.stream)
          : await tap.take(FETCH_MESSAGES, FETCH_EXPIRES_MS)
        const fresh = messages.filter(m => m.seq > read)
        if (fresh.length > 0) read = fresh[fresh.length - 1].seq
        const got = await this.cutInto(fresh, cutter, blocks)
        if (got > 0) lastMessage = Date.now()
        const idle = got === 0 && Date.now() - lastMessage >= IDLE_MS
        if (idle) {
          const b = cutter.cut()
          if (b !== null) blocks.push(b)
        }
        if (before === 0 && blocks.length > 0) waitingSince = Date.now()
        const due = blocks.length > 0 && (idle || Date.now() - waitingSince >= IDLE_MS)
        while (blocks.length >= GROUP_BLOCKS || (due && blocks.length > 0)) {
          const group = blocks.slice(0, GROUP_BLOCKS)
          blocks = blocks.slice(group.length)
          revision = await this.commit(first, group, revision)
          first = group[group.length - 1].last + 1
          waitingSince = blocks.length > 0 ? Date.now() : Infinity
        }
        if (Date.now() - lastPrune > IDLE_MS) {
          lastPrune = Date.now()
          await this.prune()
        }
      }
    } finally {
      tap.close()
      void consumer?.delete().catch(() => {})
    }
  }

  /** Adds messages to the cutter, with their bytes; how many. */
  private async cutInto (messages: Delivered[], cutter: BlockCutter, blocks: FilteredBlock[]): Promise<number> {
    // A message retention removed meanwhile holds no token any search could still find.
    const payloads = await Promise.all(messages.map(m => this.payloads.fetch({ stream: this.stream, seq: m.seq },
      msgIdOf(m.headers))
      .catch((err: Error) => { if (err instanceof Gone) return new Uint8Array(0); throw err })))
    for (const [i, m] of messages.entries()) {
      const data = payloads[i]
      const source = sourceOfSubject(m.subject)
      let run: { gen: number, offset: number } = { gen: 0, offset: 0 }
      // A message that is not a logfs run has its bytes tokenized all the same.
      try { run = readRun(m.headers, data.length) } catch { /* no run: gen 0, offset 0 */ }
      const b = await cutter.add({ seq: m.seq, source: source ?? m.subject, ...run, data })
      if (b !== null) blocks.push(b)
    }
    return messages.length
  }

  /** Where to start: `next`, past any group committed there already (a builder killed before moving `next`). */
  private async resume (): Promise<{ next: number, revision: number }> {
    let e = await this.kv.get(NEXT_KEY)
    if (e === null || e.operation !== 'PUT') {
      if (e === null) await this.kv.create(NEXT_KEY, '1')
      else await this.kv.update(NEXT_KEY, '1', e.revision)
      e = await this.kv.get(NEXT_KEY)
      if (e === null) throw new Error(`bucket ${this.bucket}: key next is gone`)
    }
    let next = Number(Buffer.from(e.value).toString())
    let revision = e.revision
    if (!Number.isSafeInteger(next) || next < 1) throw new Error(`bucket ${this.bucket}: key next is not a sequence`)
    for (;;) {
      const g = await this.kv.get(groupKey(next))
      if (g === null || g.operation !== 'PUT') return { next, revision }
      next = decodeGroup(g.value).last + 1
      revision = await this.kv.update(NEXT_KEY, String(next), revision)
    }
  }

  /** Writes a group: partitions, descriptor (create), then `next`; the new revision of `next`. */
  private async commit (first: number, blocks: FilteredBlock[], revision: number): Promise<number> {
    const built = partitionFilters(blocks.map(b => b.hashes))
    const group = groupOf(first, this.id, blocks, built)
    const { partitions } = built
    await Promise.all(partitions.map((bits, pp) => this.kv.put(partitionKey(first, this.id, pp), bits)))
    if (!this.lease.held) throw new Lost()
    try {
      await this.kv.create(groupKey(first), encodeGroup(group))
    } catch (err) {
      await this.purge(partitionPrefix(first, this.id))
      throw new Lost(`group ${first}: ${(err as Error).message}`)
    }
    this.groupsWritten++
    this.lastError = ''
    try {
      return await this.kv.update(NEXT_KEY, String(group.last + 1), revision)
    } catch (err) {
      throw new Lost(`next: ${(err as Error).message}`)
    }
  }

  /** Deletes the groups retention emptied: every sequence they cover is below the stream's first. */
  private async prune (): Promise<void> {
    const { state } = await this.jsm.streams.info(this.stream)
    for (const g of this.groups()) {
      if (g.last >= state.first_seq) continue
      await this.kv.delete(groupKey(g.first))
      await this.purge(partitionPrefix(g.first, g.id))
    }
  }

  /** Removes keys under `prefix` with no delete markers left behind. */
  private async purge (prefix: string): Promise<void> {
    await this.jsm.streams.purge(`KV_${this.bucket}`, { filter: `$KV.${this.bucket}.${prefix}.>` })
  }

  async stop (): Promise<void> {
    this.stopped = true
    await this.running
  }
}
