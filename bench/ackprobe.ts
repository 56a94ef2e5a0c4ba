// Ingest ack latency, what agents see of a busy server (bench:stall, bench:logql): an ingest connection as an agent
// has one, and a probe that sends one small batch of a quiet tenant at a time, `gap` ms after the previous ack,
// timing each ack. The server exposes no event-loop delay metric, so this latency is the measure.
import { performance } from 'node:perf_hooks'
import WebSocket from 'ws'
import { asServerFrame, decodeFrame, encodeFrame, type BatchFrame, type WireRecord } from '../lib/wire/frames'
import { TOKEN, fail, until } from './harness'

/** One ingest connection, as an agent has: batches go out with increasing seq and each resolves on its ack. */
export class Ingest {
  private seq = 0
  private readonly waiting = new Map<number, { resolve: () => void, reject: (err: Error) => void }>()
  // An agent's generation is when it started; both connections here are separate nodes, so one gen serves both.
  private readonly gen = Date.now()

  private constructor (private readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const f = asServerFrame(decodeFrame(data))
      if (f.t === 'error') return this.failAll(new Error(`server closed the connection: ${f.message}`))
      const w = this.waiting.get(f.seq)
      this.waiting.delete(f.seq)
      if (f.t === 'ack') w?.resolve()
      else if (f.t === 'nack') w?.reject(new Error(`batch refused (${f.code}): ${f.message}`))
    })
    ws.on('error', err => this.failAll(err))
    ws.on('close', () => this.failAll(new Error('ingest connection closed')))
  }

  static open (port: number): Promise<Ingest> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/ingest`, { headers: { authorization: `Bearer ${TOKEN}` } })
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new Ingest(ws)))
      ws.once('error', reject)
    })
  }

  send (node: string, recs: WireRecord[], tenant: string): Promise<void> {
    const batch: BatchFrame = { t: 'batch', seq: ++this.seq, node, tenant, gen: this.gen, recs }
    return new Promise((resolve, reject) => {
      this.waiting.set(batch.seq, { resolve, reject })
      this.ws.send(encodeFrame(batch, false))
    })
  }

  close (): void {
    this.ws.close()
  }

  private failAll (err: Error): void {
    for (const w of this.waiting.values()) w.reject(err)
    this.waiting.clear()
  }
}

/** Nearest-rank percentile of values sorted ascending. */
export function pct (sorted: number[], p: number): number {
  return sorted[Math.max(0, Math.ceil(p / 100 * sorted.length) - 1)]
}

interface Sample { sentMs: number, ackMs: number }

export class AckProbe {
  private readonly samples: Sample[] = []
  private probing = true
  private lastSentMs = 0
  private readonly done: Promise<void>

  private constructor (private readonly link: Ingest, tenant: string, gap: number) {
    this.done = (async () => {
      let offset = 0
      for (let n = 0; this.probing; n++) {
        const data = Buffer.from(`probe line ${n}\n`)
        this.lastSentMs = performance.now()
        await link.send('probe', [[`${tenant}/probe.log`, offset, Date.now(), data]], tenant)
        this.samples.push({ sentMs: this.lastSentMs, ackMs: performance.now() - this.lastSentMs })
        offset += data.length
        await new Promise(resolve => setTimeout(resolve, gap))
      }
    })().catch(fail)
  }

  static async start (port: number, tenant: string, gap: number): Promise<AckProbe> {
    return new AckProbe(await Ingest.open(port), tenant, gap)
  }

  /** The ack times, sorted ascending, of the batches sent in [from, to) (performance.now() times). */
  async acksBetween (from: number, to: number): Promise<number[]> {
    // A batch belongs to the phase it was sent in; one batch is in flight at a time, so once a batch was sent
    // after the phase, every batch sent during it has its ack.
    await until(() => this.lastSentMs >= to || undefined, 'the probe ack', 60_000)
    return this.samples.filter(s => s.sentMs >= from && s.sentMs < to).map(s => s.ackMs).sort((a, b) => a - b)
  }

  async stop (): Promise<void> {
    this.probing = false
    await this.done
    this.link.close()
  }
}
