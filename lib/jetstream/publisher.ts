// Appends through a gateway: each run of a batch becomes one message on its source's subject. Exactly once rests
// on three things (lib/jetstream/README.md):
// - the index: bytes below a source's high-water mark for their generation are a resend, counted, not published;
// - Nats-Expected-Last-Subject-Sequence: a message is stored only if the subject's last message is the one the
//   gateway's index knows, so a gateway with a stale index (another gateway took the source's batches while it
//   lagged) is refused, catches up and decides again; two gateways can never interleave one source;
// - Nats-Msg-Id: a publish whose acknowledgement was lost is resent with the same id and dropped by JetStream.
import { JetStreamApiCodes, type JetStreamClient } from '@nats-io/jetstream'
import type { AppendResult, Entry } from '../store/log-store'
import { splitSource } from '../util/sources'
import { log } from '../util/log'
import { runHeaders, runId, type RunMeta } from './message'
import { sourceSubject } from './subjects'
import type { StreamMirror } from './mirror'
import type { Payloads } from './payloads'
import { NoRoom } from './room'

/** What the publisher asks of the gateway's index. */
export interface Ledger {
  /** The tenant's stream, created if need be, with its index following it. */
  streamFor (tenant: string): Promise<StreamMirror>
  /** Offset just past the highest byte of `source` in generation `gen` that the index holds. */
  high (source: string, gen: number): number
  /** Stream sequence of the source's last message that the index holds (0: none). */
  lastSeq (source: string): number
  /** A message this gateway stored: into the index (and the byte cache) now, ahead of the consumer. */
  published (mirror: StreamMirror, seq: number, source: string, run: RunMeta, data: Uint8Array): void
}

export interface PublisherOptions {
  /** Largest payload per message: the cluster's max_payload less room for headers. */
  maxRun: number
  /** How long one batch may keep retrying through a leader election or a lost connection before it is nacked. */
  deadlineMs: number
}

const RETRY_MS = 200

/**
 * A source's entries as messages: entries that go on from one another (same generation, next offset) are joined,
 * and a message holds at most `max` bytes. A batch interleaves the records of its sources (two files written in
 * turn give one entry per write), and a message costs a round trip to the stream's leader, which a write must
 * not (measured: a line per message held two sources to ~1,000 lines/s each).
 */
export function runs (entries: Entry[], max: number): Array<RunMeta & { data: Uint8Array }> {
  const out: Array<RunMeta & { data: Uint8Array }> = []
  let parts: Uint8Array[] = []
  let run: (RunMeta & { length: number }) | null = null
  const flush = (): void => {
    if (run === null) return
    // One entry (the common case: a source written alone in its batch) is published as it came, not copied.
    const data = parts.length === 1 ? parts[0] : Buffer.concat(parts, run.length)
    for (let at = 0; at < data.length; at += max) {
      out.push({ gen: run.gen, offset: run.offset + at, timestamp: run.timestamp, data: data.subarray(at, at + max) })
    }
    parts = []
    run = null
  }
  for (const e of entries) {
    if (run === null || e.gen !== run.gen || run.offset + run.length !== e.offset) {
      flush()
      run = { gen: e.gen, offset: e.offset, timestamp: e.timestamp, length: 0 }
    }
    parts.push(e.data)
    run.length += e.data.length
  }
  flush()
  return out
}

export class Publisher {
  /** Publishes refused because another gateway had written the subject since this one's index last looked. */
  conflicts = 0
  /** Publishes tried again after a timeout or an unavailable cluster. */
  retries = 0
  private lastRetryLog = 0
  /** Per source, the publish under way: a source's runs go out one after another, in cursor order. */
  private readonly queues = new Map<string, Promise<unknown>>()

  /** `payloads` holds each publish's bytes until it is acknowledged, for the filter builder. */
  constructor (private readonly js: JetStreamClient, private readonly ledger: Ledger,
    private readonly payloads: Pick<Payloads, 'sending' | 'sent'>, private readonly options: PublisherOptions) {}

  async append (entries: Entry[]): Promise<AppendResult> {
    const bySource = new Map<string, Entry[]>()
    for (const e of entries) {
      const list = bySource.get(e.source)
      if (list) list.push(e)
      else bySource.set(e.source, [e])
    }
    const results = await Promise.all([...bySource].map(([source, list]) => this.inTurn(source, list)))
    return results.reduce((a, r) => ({ stored: a.stored + r.stored, duplicate: a.duplicate + r.duplicate }),
      { stored: 0, duplicate: 0 })
  }

  private inTurn (source: string, entries: Entry[]): Promise<AppendResult> {
    const turn = (this.queues.get(source) ?? Promise.resolve()).then(() => this.appendSource(source, entries))
    const settled = turn.catch(() => {})
    this.queues.set(source, settled)
    void settled.then(() => { if (this.queues.get(source) === settled) this.queues.delete(source) })
    return turn
  }

  private async appendSource (source: string, entries: Entry[]): Promise<AppendResult> {
    const { tenant } = splitSource(source)
    const deadline = Date.now() + this.options.deadlineMs
    const mirror = await this.retrying(deadline, `the stream of tenant ${tenant}`, () => this.ledger.streamFor(tenant))
    const subject = sourceSubject(tenant, source)
    let stored = 0
    let duplicate = 0
    for (const r of runs(entries, this.options.maxRun)) {
      const high = this.ledger.high(source, r.gen)
      if (r.offset > high) {
        const gap = r.offset - high
        log('warn', 'jetstream', `gap of ${gap} bytes in ${source} (dropped by the agent or lost before it)`)
      }
      const done = await this.publishRun(mirror, subject, source, r, r.data, deadline)
      stored += done.stored
      duplicate += done.duplicate
    }
    return { stored, duplicate }
  }

  /** `fn` until it succeeds or `deadline` passes: a leader election or a reconnection takes seconds. */
  private async retrying<T> (deadline: number, what: string, fn: () => Promise<T>): Promise<T> {
    for (;;) {
      try {
        return await fn()
      } catch (err) {
        // No room stays so for longer than a batch may wait: the agent keeps the bytes and sends them again.
        if (err instanceof NoRoom) throw err
        if (Date.now() > deadline) {
          throw new Error(`the JetStream cluster did not answer for ${what}: ${(err as Error).message}`)
        }
        this.noteRetry(what, err as Error)
        await new Promise(resolve => setTimeout(resolve, RETRY_MS))
      }
    }
  }

  /** Logged once per episode: an election or a reconnection is not news for every run that waits on it. */
  private noteRetry (what: string, err: Error): void {
    if (this.retries++ === 0 || Date.now() - this.lastRetryLog > 10_000) {
      log('warn', 'jetstream', `trying ${what} again: ${err.message}`)
      this.lastRetryLog = Date.now()
    }
  }

  private async publishRun (mirror: StreamMirror, subject: string, source: string, run: RunMeta, data: Uint8Array,
    deadline: number): Promise<AppendResult> {
    for (;;) {
      const high = this.ledger.high(source, run.gen)
      if (run.offset + data.length <= high) return { stored: 0, duplicate: data.length }
      const skip = Math.max(0, high - run.offset)
      const meta = { ...run, offset: run.offset + skip }
      const bytes = data.subarray(skip)
      const id = runId(subject, meta, bytes.length)
      try {
        this.payloads.sending(mirror.stream, id, bytes)
        const ack = await this.js.publish(subject, bytes, {
          msgID: id, headers: runHeaders(meta), expect: { lastSubjectSequence: this.ledger.lastSeq(source) },
        })
        if (ack.duplicate) return { stored: 0, duplicate: data.length }
        this.ledger.published(mirror, ack.seq, source, meta, bytes)
        return { stored: bytes.length, duplicate: skip }
      } catch (err) {
        const code = (err as { code?: number }).code
        if (Date.now() > deadline) {
          throw new Error(`the JetStream cluster did not take bytes of ${source}: ${(err as Error).message}`)
        }
        if (code === JetStreamApiCodes.StreamWrongLastSequence) {
          this.conflicts++
        } else {
          this.noteRetry(`a publish to ${subject}`, err as Error)
          await new Promise(resolve => setTimeout(resolve, RETRY_MS))
        }
        // Either way the index may lack what the stream holds (another gateway's message, or this one's own whose
        // acknowledgement was lost): it catches up before the run is weighed again.
        await mirror.settle().catch(() => {})
      } finally {
        this.payloads.sent(mirror.stream, id)
      }
    }
  }
}
