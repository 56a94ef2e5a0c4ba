// The logfs server: WebSocket ingest at /v1/ingest (acks only after the store made a batch durable) and a small
// HTTP read API. One HTTP port carries both. The store is the embedded one, or a JetStream cluster this server is
// one stateless gateway of.
import http from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type WebSocket } from 'ws'
import { Auth, type Grant } from './auth'
import { LastingRefusal, type LogStore } from '../store/log-store'
import { HttpApi } from './http-api'
import { TAIL_PATH } from './loki-tail'
import { Registry, addProcessMetrics, type Histogram } from '../metrics/registry'
import {
  FEATURES_HEADER, MAX_FRAME, SERVER_FEATURES, InvalidBatch, WireError, asAgentFrame, batchBytes, decodeFrame,
  encodeFrame, envelopeMismatch, parseFeatures, readEnvelope, type AgentFrame, type Envelope, type NackCode,
  type ServerFrame,
} from '../wire/frames'
import { NodeClaims, type Conflict } from './claims'
import type { LimitsInForce } from './limits'
import { IngestLimiter } from './ingest-limiter'
import { SourceLimit } from './source-limit'
import { formatBytes } from '../util/units'
import { DEFAULT_QUERY_WAIT_MS, QueryGate } from './query-gate'
import { ingestArrived } from '../query/pace'
import { IngestMeter, tenantRows, type TenantActivity, type TenantRow } from './tenants'
import { sourceName } from '../util/sources'
import { log } from '../util/log'
import { closeReason } from './ws-close'

/** Bytes, 1 KiB to 16 MiB by fours: batches run from one line to --batch-size (1 MiB) and over for big lines. */
const BATCH_BYTES_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384].map(k => k * 1024)

export interface ServerStats {
  connections: number
  batches: number
  storedBytes: number
  duplicateBytes: number
  refusedBatches: number
  invalidBatches: number
  conflictBatches: number
  malformedFrames: number
  unauthorized: number
}

/** What answering one agent connection takes. */
interface Connection {
  send: (f: ServerFrame) => void
  refuse: (seq: number, code: NackCode, message: string) => void
  /** Whether the agent understands `throttle` frames. */
  throttle: boolean
}

export interface ServerOptions {
  host: string
  port: number
}

export interface LogServerOptions {
  /** Gateways of one JetStream cluster sharing each tenant's ingest rate: each enforces `ingest / gateways`. */
  gateways?: number
  /** How long a query waits for one of its tenant's slots before it is answered 429. */
  queryWaitMs?: number
}

export class LogServer {
  readonly stats: ServerStats = {
    connections: 0, batches: 0, storedBytes: 0, duplicateBytes: 0,
    refusedBatches: 0, invalidBatches: 0, conflictBatches: 0, malformedFrames: 0, unauthorized: 0,
  }
  readonly metrics = new Registry()
  private readonly http: http.Server
  private readonly wss: WebSocketServer
  private readonly api: HttpApi
  private readonly ingestLatency: Histogram
  private readonly batchBytes: (labels: { tenant: string }) => Histogram
  private readonly claims: NodeClaims
  private readonly limiter: IngestLimiter
  private readonly sourceLimit: SourceLimit
  /** Query slots and queues per tenant (`state()` for a view of them). */
  readonly queries: QueryGate
  /** Bytes each tenant sent over the last minute, for /v1/tenants. */
  readonly ingestMeter = new IngestMeter()

  constructor (private readonly store: LogStore, private readonly auth: Auth, readonly limits: LimitsInForce,
    options: LogServerOptions = {}) {
    this.claims = new NodeClaims(store.claims)
    this.limiter = new IngestLimiter(limits, options.gateways ?? 1)
    this.sourceLimit = new SourceLimit(store, limits)
    this.ingestLatency = this.metrics.histogram('logfs_server_ingest_duration_seconds',
      'From a batch arriving to its acknowledgement (write + fsync).')()
    // Per batch, not per second: a tenant's rate says how much it sends, this says in what lumps, which is what
    // other tenants' latency feels.
    this.batchBytes = this.metrics.histogram('logfs_server_batch_bytes',
      'Log bytes in each batch stored (new and duplicate), per tenant.', ['tenant'], BATCH_BYTES_BUCKETS)
    this.registerMetrics()
    this.queries = new QueryGate(limits, options.queryWaitMs ?? DEFAULT_QUERY_WAIT_MS)
    this.queries.registerMetrics(this.metrics)
    // What the limiter and the query gate keep, for /v1/tenants.
    const activity: TenantActivity = {
      throttledSeconds: tenant => this.limiter.throttledSeconds(tenant),
      queuedQueries: tenant => this.queries.queued(tenant),
    }
    const tenants = (allowed: (tenant: string) => boolean): TenantRow[] =>
      tenantRows(store, allowed, limits, this.ingestMeter, activity)
    const api = this.api = new HttpApi(store, auth, this.metrics, tenants, this.queries, limits,
      () => store.healthy ? store.trouble : 'the store cannot take batches (a failed fsync, or stopping)')
    this.http = http.createServer((req, res) => api.handle(req, res))
    this.wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME, perMessageDeflate: false })
    this.wss.on('headers', (headers) => headers.push(`${FEATURES_HEADER}: ${SERVER_FEATURES.join(' ')}`))
    this.http.on('upgrade', (req, socket, head) => this.upgrade(req, socket, head))
  }

  private registerMetrics (): void {
    const m = this.metrics
    const st = this.stats
    m.gauge('logfs_server_connections', 'Open agent connections.', () => st.connections)
    m.counter('logfs_server_batches_total', 'Batches stored and acknowledged.', () => st.batches)
    m.counter('logfs_server_bytes_stored_total', 'Log bytes made durable.', () => st.storedBytes)
    m.counter('logfs_server_bytes_duplicate_total', 'Resent bytes recognised and skipped.', () => st.duplicateBytes)
    m.counter('logfs_server_batches_refused_total', 'Batches for tenants the token does not cover.',
      () => st.refusedBatches)
    m.counter('logfs_server_batches_invalid_total', 'Batches read but refused for a field out of range.',
      () => st.invalidBatches)
    m.counter('logfs_server_batches_conflict_total',
      'Batches and claims refused: another agent generation holds the node.',
      () => st.conflictBatches)
    m.counter('logfs_server_frames_malformed_total', 'Frames that could not be read; their connections were closed.',
      () => st.malformedFrames)
    m.counter('logfs_server_unauthorized_total', 'Connections refused for a missing or wrong token.',
      () => st.unauthorized)
    // Counted by the store: every append it rejects is a batch nacked `unavailable`.
    m.counter('logfs_server_batches_unavailable_total',
      'Batches nacked unavailable: the store could not make them durable (disk full, failed fsync, stopping).',
      () => this.store.refusedAppends)
    const perTenant = (counts: Map<string, number>) => () =>
      [...counts].map(([tenant, n]) => [{ tenant }, n] as [Record<string, string>, number])
    m.counter('logfs_tenant_throttled_batches_total',
      'Batches throttled: the tenant was over its ingest rate; neither stored nor refused, the agent sends them again.',
      perTenant(this.limiter.throttled), ['tenant'])
    m.counter('logfs_tenant_ingest_bytes_total',
      'Log bytes of batches the ingest rate let through, resends included.', perTenant(this.limiter.admitted),
      ['tenant'])
    m.counter('logfs_tenant_sources_refused_batches_total',
      'Batches answered unavailable: they would give the tenant a source past its sources limit.',
      perTenant(this.sourceLimit.refused), ['tenant'])
    for (const x of this.store.metrics()) m[x.type](x.name, x.help, x.value, x.labels)
    addProcessMetrics(m)
  }

  listen (options: ServerOptions): Promise<{ host: string, port: number }> {
    return new Promise((resolve, reject) => {
      this.http.once('error', reject)
      this.http.listen(options.port, options.host, () => {
        this.http.off('error', reject)
        const addr = this.http.address()
        if (addr === null || typeof addr === 'string') return reject(new Error('server has no TCP address'))
        resolve({ host: addr.address, port: addr.port })
      })
    })
  }

  private upgrade (req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const refuse = (status: number, text: string): void => {
      const head = `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: text/plain\r\n`
      socket.end(`${head}Content-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`)
    }
    const pathname = new URL(req.url ?? '/', 'http://x').pathname
    if (pathname === TAIL_PATH) return this.api.lokiTail.upgrade(req, socket, head, refuse)
    if (pathname !== '/v1/ingest') return refuse(404, 'no such endpoint; agents connect to /v1/ingest')
    const grant = this.auth.check(Auth.bearer(req.headers.authorization))
    if (grant === null) {
      this.stats.unauthorized++
      const from = req.socket.remoteAddress
      log('warn', 'server', 'refused an ingest connection with a missing or wrong token', { from })
      return refuse(401, 'missing or wrong token')
    }
    const understood = parseFeatures(req.headers[FEATURES_HEADER])
    this.wss.handleUpgrade(req, socket, head,
      (ws) => this.serve(ws, grant, req.socket.remoteAddress ?? '?', understood.has('throttle')))
  }

  /**
   * Charges a batch to its tenant's ingest rate; false when it is over. An agent that understands `throttle` is
   * told how long to wait; an older one gets the `unavailable` nack it already keeps the bytes and retries on.
   */
  private admit (send: (f: ServerFrame) => void, seq: number, tenant: string, bytes: number,
    throttle: boolean): boolean {
    const retryAfterMs = this.limiter.admit(tenant, bytes)
    if (retryAfterMs === 0) return true
    if (throttle) send({ t: 'throttle', seq, tenant, retryAfterMs })
    else {
      const rate = `${formatBytes(this.limiter.rateOf(tenant))}/s`
      send({ t: 'nack', seq, code: 'unavailable',
        message: `tenant ${tenant} is over its ingest rate (${rate}); retry after ${retryAfterMs} ms` })
    }
    return false
  }

  private serve (ws: WebSocket, grant: Grant, peer: string, throttle: boolean): void {
    this.stats.connections++
    const send = (f: ServerFrame): void => { if (ws.readyState === ws.OPEN) ws.send(encodeFrame(f, false)) }
    // Refusals are logged once per connection and kind: a client repeating a bad batch must not flood the log.
    const logged = new Set<string>()
    // Frames waiting for the cluster to answer a node claim: the frames after them wait their turn, so a
    // connection's batches reach the store in the order they came.
    let waiting: Promise<void> | null = null
    const refuse = (seq: number, code: NackCode, message: string): void => {
      if (!logged.has(code)) log('warn', 'server', `refused a batch from ${peer} (${code}): ${message}`)
      logged.add(code)
      send({ t: 'nack', seq, code, message })
    }
    const ctx: Connection = { send, refuse, throttle }
    ws.on('close', () => {
      this.stats.connections--
      this.claims.release(ws)
    })
    ws.on('error', (err) => log('warn', 'server', `connection from ${peer}: ${err.message}`))
    ws.on('message', (data, isBinary) => {
      ingestArrived()
      let frame
      let envelope: Envelope | null = null
      try {
        if (!isBinary) throw new WireError('text frames are not part of the protocol')
        // The envelope is read before the body: a batch its token does not cover, or over its tenant's rate, costs
        // the server no inflating and no decoding.
        envelope = readEnvelope(data as Buffer)
        if (envelope && !Auth.allows(grant, envelope.tenant)) {
          this.stats.refusedBatches++
          return refuse(envelope.seq, 'forbidden', `token does not cover tenant ${envelope.tenant}`)
        }
        if (envelope && !this.admit(send, envelope.seq, envelope.tenant, envelope.bytes, throttle)) return
        frame = asAgentFrame(decodeFrame(data as Buffer))
        const mismatch = envelope && envelopeMismatch(envelope, frame)
        if (mismatch) throw new InvalidBatch(envelope!.seq, mismatch)
      } catch (err) {
        if (err instanceof InvalidBatch) {
          this.stats.invalidBatches++
          return refuse(err.seq, 'invalid', err.message)
        }
        this.stats.malformedFrames++
        const message = err instanceof WireError ? err.message : `unreadable frame: ${(err as Error).message}`
        log('warn', 'server', `malformed frame from ${peer}, closing: ${message}`)
        send({ t: 'error', code: 'malformed', message })
        ws.close(1007, closeReason(message))
        return
      }
      if (frame.t === 'batch' && !Auth.allows(grant, frame.tenant)) {
        this.stats.refusedBatches++
        return refuse(frame.seq, 'forbidden', `token does not cover tenant ${frame.tenant}`)
      }
      const agentFrame = frame
      const decided = (conflict: Conflict | null): void => this.decided(agentFrame, conflict, envelope !== null, ctx)
      const claim = (): Conflict | null | Promise<Conflict | null> =>
        this.claims.claim(agentFrame.node, agentFrame.gen, ws, peer)
      const claimed = waiting === null ? claim() : waiting.then(claim)
      if (!(claimed instanceof Promise)) return decided(claimed)
      const turn = claimed.then(decided, (err: Error) => refuse(agentFrame.seq, 'unavailable',
        `cannot check the claim on node ${agentFrame.node}: ${err.message}`))
      waiting = turn
      void turn.then(() => { if (waiting === turn) waiting = null })
    })
  }

  /** A frame whose node claim was decided: refused, a claim acknowledged, or a batch on to the store. */
  private decided (frame: AgentFrame, conflict: Conflict | null, enveloped: boolean, ctx: Connection): void {
    const { send, refuse, throttle } = ctx
    const node = frame.node
    if (conflict) {
      this.stats.conflictBatches++
      const { holderGen, holderPeer } = conflict
      return refuse(frame.seq, 'conflict', `node ${node} is in use by another agent (generation ${holderGen}, ` +
        `connected from ${holderPeer}); give each mount its own --node`)
    }
    if (frame.t === 'claim') return send({ t: 'ack', seq: frame.seq, stored: 0, duplicate: 0 })
    const batch = frame
    // A batch without an envelope (an agent that predates it) is charged once decoded.
    if (!enveloped && !this.admit(send, batch.seq, batch.tenant, batchBytes(batch), throttle)) return
    const over = this.sourceLimit.admit(node, batch.tenant, batch.recs)
    if (over) return refuse(batch.seq, 'unavailable', over)
    const gen = batch.gen
    const entries = batch.recs.map(([p, offset, timestamp, data]) =>
      ({ source: sourceName(node, p), gen, offset, timestamp, data }))
    const arrived = process.hrtime.bigint()
    this.store.append(entries).then(({ stored, duplicate }) => {
      this.ingestLatency.observe(Number(process.hrtime.bigint() - arrived) / 1e9)
      this.stats.batches++
      this.stats.storedBytes += stored
      this.stats.duplicateBytes += duplicate
      this.batchBytes({ tenant: batch.tenant }).observe(stored + duplicate)
      this.ingestMeter.add(batch.tenant, stored + duplicate)
      send({ t: 'ack', seq: batch.seq, stored, duplicate })
    }, (err: Error) => {
      // A full disk, or a tenant stream the cluster has no room for, is logged once per episode by the store; a
      // batch refused for it is not news.
      if (!this.store.full && !(err instanceof LastingRefusal)) {
        log('error', 'server', `store refused a batch: ${err.message}`)
      }
      send({ t: 'nack', seq: batch.seq, code: 'unavailable', message: err.message })
    })
  }

  async close (): Promise<void> {
    for (const ws of this.wss.clients) ws.close(1001, 'server stopping')
    await new Promise<void>(resolve => this.wss.close(() => resolve()))
    await this.api.lokiTail.close()
    this.http.closeAllConnections()
    await new Promise<void>(resolve => this.http.close(() => resolve()))
  }
}
