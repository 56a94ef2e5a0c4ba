// One WebSocket connection from a shipping worker to the logfs server, with answers matched to batches by seq.
import WebSocket from 'ws'
import {
  AGENT_FEATURES, FEATURES_HEADER, asServerFrame, parseFeatures, batchBytes, decodeFrame, encodeFrameAsync,
  type AckFrame, type AgentFrame, type BatchFrame, type Envelope, type Feature, type NackCode,
} from '../wire/frames'

export interface LinkOptions {
  /** Gateways of one store: a connection goes to one, and to the next after that one fails. */
  urls: string[]
  token: string
  /** How long to wait for the connection and then for each answer. */
  timeoutMs: number
  compress: boolean
}

interface Pending {
  resolve: (ack: AckFrame) => void
  reject: (err: Error) => void
  timer: NodeJS.Timeout
}

/** Errors the agent should not retry quickly: the server said no, and will say no again. */
export class RefusedError extends Error {
  override name = 'RefusedError'
  /** The nack's code, when the refusal was a nack. */
  constructor (message: string, readonly code?: NackCode) { super(message) }
}

/** The server throttled the batch: its tenant is over its ingest rate. Send it again after `retryAfterMs`. */
export class ThrottledError extends Error {
  override name = 'ThrottledError'
  constructor (readonly tenant: string, readonly retryAfterMs: number) {
    super(`server throttles tenant ${tenant} (over its ingest rate) for ${retryAfterMs} ms`)
  }
}

export class ServerLink {
  private ws: WebSocket | undefined
  private opening: Promise<WebSocket> | undefined
  private readonly pending = new Map<number, Pending>()
  private seq = 0
  /** Index in `urls` of the gateway in use; moves on after each failed connection or silent answer. */
  private current = 0
  /** What the server of the open connection listed in its handshake (FEATURES_HEADER). */
  private features = new Set<string>()

  constructor (readonly options: LinkOptions) {}

  private get url (): string { return this.options.urls[this.current] }

  /**
   * The next gateway for the next connection. Every batch not acknowledged is resent there: the store drops the
   * bytes it already holds by (source, gen, offset), whichever gateway took them.
   */
  private moveOn (): void { this.current = (this.current + 1) % this.options.urls.length }

  private open (): Promise<WebSocket> {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) return Promise.resolve(this.ws)
    if (this.opening) return this.opening
    const { token, timeoutMs } = this.options
    const url = this.url
    this.opening = new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(url,
        {
          headers: { authorization: `Bearer ${token}`, [FEATURES_HEADER]: AGENT_FEATURES.join(' ') },
          handshakeTimeout: timeoutMs,
          perMessageDeflate: false,
        })
      ws.binaryType = 'nodebuffer'
      ws.once('upgrade', (res) => {
        this.features = parseFeatures(res.headers[FEATURES_HEADER])
      })
      ws.once('open', () => { this.ws = ws; this.opening = undefined; resolve(ws) })
      ws.once('unexpected-response', (_req, res) => {
        let text = ''
        res.on('data', (c: Buffer) => { text += c.toString() })
        res.on('end', () => {
          const err = res.statusCode === 401 || res.statusCode === 403
            ? new RefusedError(`server ${url} refused the token: HTTP ${res.statusCode} ${text.trim()}`)
            : new Error(`server ${url} answered HTTP ${res.statusCode} ${text.trim()}`)
          if (!(err instanceof RefusedError)) this.moveOn()
          ws.terminate()
          this.opening = undefined
          reject(err)
        })
      })
      ws.once('error', (err) => {
        this.opening = undefined
        // Once open, a socket error also closes it, and the close moves on.
        if (this.ws !== ws) this.moveOn()
        reject(new Error(`cannot reach server ${url}: ${err.message}`))
      })
      ws.on('close', (code, reason) => {
        if (this.ws === ws) {
          this.ws = undefined
          // A gateway going away (it stops, or is killed) closes its connections: the next try goes elsewhere.
          if (code !== 1000) this.moveOn()
        }
        this.failAll(new Error(`connection to ${url} closed (${code}${reason.length ? ': ' + reason.toString() : ''})`))
      })
      ws.on('message', (data: Buffer) => this.onMessage(data))
    })
    return this.opening
  }

  private onMessage (data: Buffer): void {
    let frame
    try {
      frame = asServerFrame(decodeFrame(data))
    } catch (err) {
      this.ws?.terminate()
      this.failAll(new Error(`server sent an unreadable frame: ${(err as Error).message}`))
      return
    }
    if (frame.t === 'error') {
      const err = frame.code === 'unauthorized'
        ? new RefusedError(frame.message)
        : new Error(`server error ${frame.code}: ${frame.message}`)
      this.failAll(err)
      return
    }
    const p = this.pending.get(frame.seq)
    if (!p) return
    this.pending.delete(frame.seq)
    clearTimeout(p.timer)
    if (frame.t === 'ack') p.resolve(frame)
    else if (frame.t === 'throttle') p.reject(new ThrottledError(frame.tenant, frame.retryAfterMs))
    else if (frame.code === 'unavailable') p.reject(new Error(`server cannot store now: ${frame.message}`))
    else p.reject(new RefusedError(`server refused batch (${frame.code}): ${frame.message}`, frame.code))
  }

  private failAll (err: Error): void {
    for (const p of this.pending.values()) { clearTimeout(p.timer); p.reject(err) }
    this.pending.clear()
  }

  /** Sends one batch and resolves when the server says it is durable. */
  send (batch: Omit<BatchFrame, 't' | 'seq'>): Promise<{ ack: AckFrame, wireBytes: number }> {
    // Deflate costs more than it saves on small batches.
    const bytes = batchBytes(batch)
    return this.request(seq => ({ t: 'batch', seq, ...batch }), this.options.compress && bytes >= 4096,
      // A server that reads envelopes can throttle the batch before inflating it.
      seq => this.has('envelope') ? { seq, tenant: batch.tenant, bytes } : undefined)
  }

  /**
   * Takes or keeps `node` for `gen` on the server. Resolves false when the server does not know claims (it
   * predates them); rejects with a RefusedError when another generation holds the node.
   */
  async claim (node: string, gen: number): Promise<boolean> {
    await this.open()
    if (!this.has('claim')) return false
    await this.request(seq => ({ t: 'claim', seq, node, gen }), false)
    return true
  }

  private has (feature: Feature): boolean { return this.features.has(feature) }

  private async request (body: (seq: number) => AgentFrame, compress: boolean,
    envelope: (seq: number) => Envelope | undefined = () => undefined): Promise<{ ack: AckFrame, wireBytes: number }> {
    const ws = await this.open()
    const seq = ++this.seq
    // The envelope depends on what the server listed when the connection opened.
    const frame = await encodeFrameAsync(body(seq), compress, envelope(seq))
    const ack = await new Promise<AckFrame>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(seq)
        // A silent server may have the batch half-written; dropping the connection makes the resend unambiguous.
        ws.terminate()
        reject(new Error(`no answer from ${this.url} within ${this.options.timeoutMs} ms`))
      }, this.options.timeoutMs)
      this.pending.set(seq, { resolve, reject, timer })
      ws.send(frame, (err) => {
        if (!err) return
        this.pending.delete(seq)
        clearTimeout(timer)
        reject(new Error(`send to ${this.url} failed: ${err.message}`))
      })
    })
    return { ack, wireBytes: frame.length }
  }

  close (): void {
    this.ws?.close(1000, 'agent stopping')
  }
}
