// The logfs server: WebSocket ingest at /v1/ingest (acks only after the store made a batch durable) and a small
// HTTP read API. One HTTP port carries both.
import http from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type WebSocket } from 'ws'
import { Auth, type Grant } from './auth'
import { type Store, parseCursor, formatCursor } from '../store/store'
import { MAX_FRAME, WireError, asBatch, decodeFrame, encodeFrame, type ServerFrame } from '../wire/frames'
import { log } from '../util/log'

export interface ServerStats {
  connections: number
  batches: number
  storedBytes: number
  duplicateBytes: number
  refusedBatches: number
  malformedFrames: number
  unauthorized: number
}

export interface ServerOptions {
  host: string
  port: number
}

const MAX_READ = 16 * 1024 * 1024

export class LogServer {
  readonly stats: ServerStats = { connections: 0, batches: 0, storedBytes: 0, duplicateBytes: 0, refusedBatches: 0, malformedFrames: 0, unauthorized: 0 }
  private readonly http: http.Server
  private readonly wss: WebSocketServer

  constructor (private readonly store: Store, private readonly auth: Auth) {
    this.http = http.createServer((req, res) => this.route(req, res))
    this.wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME, perMessageDeflate: false })
    this.http.on('upgrade', (req, socket, head) => this.upgrade(req, socket, head))
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
      socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`)
    }
    if (new URL(req.url ?? '/', 'http://x').pathname !== '/v1/ingest') return refuse(404, 'no such endpoint; agents connect to /v1/ingest')
    const grant = this.auth.check(Auth.bearer(req.headers.authorization))
    if (grant === null) {
      this.stats.unauthorized++
      log('warn', 'server', 'refused an ingest connection with a missing or wrong token', { from: req.socket.remoteAddress })
      return refuse(401, 'missing or wrong token')
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.serve(ws, grant, req.socket.remoteAddress ?? '?'))
  }

  private serve (ws: WebSocket, grant: Grant, peer: string): void {
    this.stats.connections++
    const send = (f: ServerFrame): void => { if (ws.readyState === ws.OPEN) ws.send(encodeFrame(f, false)) }
    ws.on('close', () => { this.stats.connections-- })
    ws.on('error', (err) => log('warn', 'server', `connection from ${peer}: ${err.message}`))
    ws.on('message', (data, isBinary) => {
      let batch
      try {
        if (!isBinary) throw new WireError('text frames are not part of the protocol')
        batch = asBatch(decodeFrame(data as Buffer))
      } catch (err) {
        this.stats.malformedFrames++
        const message = err instanceof WireError ? err.message : `unreadable frame: ${(err as Error).message}`
        log('warn', 'server', `malformed frame from ${peer}, closing: ${message}`)
        send({ t: 'error', code: 'malformed', message })
        ws.close(1007, message.slice(0, 120))
        return
      }
      if (!Auth.allows(grant, batch.tenant)) {
        this.stats.refusedBatches++
        send({ t: 'nack', seq: batch.seq, code: 'forbidden', message: `token does not cover tenant ${batch.tenant}` })
        return
      }
      const node = batch.node
      const entries = batch.recs.map(([p, offset, timestamp, data]) => ({ source: `${node}/${p}`, gen: batch.gen, offset, timestamp, data }))
      this.store.append(entries).then(({ stored, duplicate }) => {
        this.stats.batches++
        this.stats.storedBytes += stored
        this.stats.duplicateBytes += duplicate
        send({ t: 'ack', seq: batch.seq, stored, duplicate })
      }, (err: Error) => {
        log('error', 'server', `store refused a batch: ${err.message}`)
        send({ t: 'nack', seq: batch.seq, code: 'unavailable', message: err.message })
      })
    })
  }

  private route (req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x')
    const json = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' })
      res.end(JSON.stringify(body) + '\n')
    }
    if (url.pathname === '/healthz') return json(200, { ok: true })
    const grant = this.auth.check(Auth.bearer(req.headers.authorization))
    if (grant === null) return json(401, { error: 'missing or wrong token' })
    try {
      if (req.method === 'GET' && url.pathname === '/v1/sources') {
        return json(200, { sources: this.store.listSources(t => Auth.allows(grant, t)) })
      }
      if (req.method === 'GET' && url.pathname === '/v1/read') {
        const source = url.searchParams.get('source')
        if (!source) return json(400, { error: 'parameter source is required' })
        const tenant = this.store.tenantOf(source)
        if (tenant === null || !Auth.allows(grant, tenant)) return json(404, { error: `unknown source ${source}` })
        const fromText = url.searchParams.get('from')
        let from = null
        try { from = fromText ? parseCursor(fromText) : null } catch (err) { return json(400, { error: (err as Error).message }) }
        const max = Number(url.searchParams.get('max') ?? MAX_READ)
        if (!Number.isSafeInteger(max) || max <= 0 || max > MAX_READ) return json(400, { error: `max must be an integer from 1 to ${MAX_READ}` })
        const { data, next } = this.store.read(source, from, max)
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'logfs-next': next ? formatCursor(next) : '' })
        res.end(data)
        return
      }
      json(404, { error: `no such endpoint ${req.method} ${url.pathname}` })
    } catch (err) {
      log('error', 'server', `${req.method} ${url.pathname}: ${(err as Error).message}`)
      json(500, { error: (err as Error).message })
    }
  }

  async close (): Promise<void> {
    for (const ws of this.wss.clients) ws.close(1001, 'server stopping')
    await new Promise<void>(resolve => this.wss.close(() => resolve()))
    this.http.closeAllConnections()
    await new Promise<void>(resolve => this.http.close(() => resolve()))
  }
}
