// A gateway's view of one tenant stream: an ordered consumer that delivers only headers (no bytes) from the
// first message on (or from the one after the index snapshot the gateway loaded), feeding each message's place
// (source, gen, offset, length, time) to the gateway's index.
// Every gateway of a cluster keeps its own, so each answers reads about what any of them stored.
import { DeliverPolicy, type JetStreamClient, type JetStreamManager, type ConsumerMessages } from '@nats-io/jetstream'
import type { MsgHdrs } from '@nats-io/nats-core'
import { log } from '../util/log'
import { Tap } from './mirror-tap'

/** One message as the consumer delivered it: headers, and no bytes but the payload's size in Nats-Msg-Size. */
export interface Delivered { stream: string, seq: number, subject: string, headers: MsgHdrs | undefined }

const RESTART_MS = 500
/** How long a read waits for the index to reach what the stream held when the read came. */
const SETTLE_MS = 10_000
/** How long a consumer that is behind may deliver nothing before it is started again. */
const STALL_MS = 1000
/** Pull requests expire (and are renewed) this often: a consumer lost with its stream's leader is noticed soon. */
const EXPIRES_MS = 5000

export class StreamMirror {
  /** Highest sequence the index holds: every message up to it was applied (or skipped as not ours). */
  applied = 0
  /** Messages this gateway published and applied at once, ahead of the consumer; the consumer skips them. */
  private readonly early = new Set<number>()
  private messages: ConsumerMessages | null = null
  private stopped = false
  private waiters: Array<{ seq: number, resolve: () => void }> = []
  /** The first sequence retention left, as last read from the stream. */
  first = 0
  /** Messages the consumer delivered and the index took: what a snapshot spared is not among them. */
  replayed = 0
  private readonly taps = new Set<Tap<Delivered>>()

  constructor (
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    readonly stream: string,
    private readonly apply: (d: Delivered) => void,
    private readonly trim: (stream: string, first: number) => void,
  ) {}

  /** Follows the stream from the message after `from`: the index holds every message up to it already. */
  start (from = 0): void {
    this.applied = from
    void this.run()
  }

  private async run (): Promise<void> {
    while (!this.stopped) {
      try {
        const consumer = await this.js.consumers.get(this.stream, {
          headers_only: true, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: this.applied + 1,
        })
        this.messages = await consumer.consume({ expires: EXPIRES_MS })
        for await (const m of this.messages) {
          if (this.stopped) break
          if (m.seq <= this.applied) continue
          const d = { stream: this.stream, seq: m.seq, subject: m.subject, headers: m.headers }
          if (!this.early.delete(m.seq)) {
            this.replayed++
            this.apply(d)
          }
          for (const t of this.taps) t.push(d)
          this.advance(m.seq)
        }
      } catch (err) {
        if (!this.stopped) log('warn', 'jetstream', `index of ${this.stream} restarts: ${(err as Error).message}`)
      }
      this.messages = null
      if (!this.stopped) await new Promise(resolve => setTimeout(resolve, RESTART_MS))
    }
  }

  private advance (seq: number): void {
    this.applied = seq
    if (this.waiters.length === 0) return
    const ready = this.waiters.filter(w => w.seq <= seq)
    this.waiters = this.waiters.filter(w => w.seq > seq)
    for (const w of ready) w.resolve()
  }

  /** Every message the consumer delivers from now on (after `applied`), in sequence order, until closed. */
  tap (): Tap<Delivered> {
    const t: Tap<Delivered> = new Tap(this.applied, () => this.taps.delete(t))
    this.taps.add(t)
    return t
  }

  /** Records a message this gateway published, applied to the index ahead of the consumer. */
  published (seq: number): void {
    if (seq > this.applied) this.early.add(seq)
  }

  /**
   * Resolves once the index holds every message the stream held when called, and drops what retention removed
   * since: a read on any gateway then sees every batch acknowledged before it.
   */
  async settle (): Promise<void> {
    const { state } = await this.jsm.streams.info(this.stream)
    this.retained(state.first_seq)
    const last = state.last_seq
    const deadline = Date.now() + SETTLE_MS
    let seen = this.applied
    while (this.applied < last) {
      if (Date.now() > deadline) {
        throw new Error(`the index of ${this.stream} is behind the stream (at ${this.applied} of ${last})`)
      }
      const moved = await new Promise<boolean>(resolve => {
        const w = { seq: last, resolve: () => { clearTimeout(timer); resolve(true) } }
        const timer = setTimeout(() => { this.waiters = this.waiters.filter(x => x !== w); resolve(false) }, STALL_MS)
        this.waiters.push(w)
      })
      // A consumer whose stream lost its leader can sit silent until its heartbeats are missed; one that made no
      // progress for STALL_MS while behind is started again from where the index is.
      if (!moved && this.applied === seen) void this.messages?.close()
      seen = this.applied
    }
  }

  /** Drops from the index what retention removed: every message below `first`, the stream's first sequence. */
  retained (first: number): void {
    if (first <= this.first) return
    this.first = first
    this.trim(this.stream, first)
    // Nothing below `first` is left to deliver: the index holds all there is up to it. Else a stream retention
    // emptied (no message left to deliver) would be behind for good, and no gateway could start.
    if (this.applied < first - 1) this.advance(first - 1)
  }

  async stop (): Promise<void> {
    this.stopped = true
    await this.messages?.close()
  }
}
