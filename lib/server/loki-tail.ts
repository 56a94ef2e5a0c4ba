// Loki's /loki/api/v1/tail: a WebSocket that sends the lines a log query keeps as they are stored, in Loki's
// shape `{"streams":[{"stream":{labels},"values":[["<ns>","<line>"]]}],"dropped_entries":null}`. It opens with
// the newest `limit` lines since `start` (best effort, as Loki's: a line stored while they are read may come
// twice), then follows the server's appends as `logfs tail -f` does (follow.ts): one message per append of a
// matching source, each line through the query's pipeline. Sources that appear later and match are followed
// from their start. A request Loki would refuse gets 400 and the reason instead of the upgrade.
import type http from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type WebSocket } from 'ws'
import type { Auth } from './auth'
import type { LogStore } from '../store/log-store'
import type { Cursor, SourceIndex } from '../store/source'
import type { Allowed } from '../query/scope'
import { QueryError } from '../query/errors'
import { MAX_LINES, toLines } from '../query/lines'
import { followFrom, wholeLinesFrom } from '../query/tail'
import { matchesAll, selectStreams, sourceLabels, type Labels } from '../logql/labels'
import { compilePipeline } from '../logql/pipeline'
import { runLogQuery, toStreams, type LogStream } from '../logql/log-query'
import type { LogQuery } from '../logql/ast'
import type { TenantLimits } from './limits'
import { QueryAbandoned, QueryBusy } from './query-gate'
import { HOUR, logQueryOnly, lokiCount, lokiTime, requestAllowed } from './loki-http'
import { watchAppends } from './follow'
import { closeReason } from './ws-close'
import { log } from '../util/log'

export const TAIL_PATH = '/loki/api/v1/tail'

/** Runs `fn` in the query slot of the tenants whose sources `pick` takes, until `signal` (HttpApi.gatedUntil). */
export type GatedUntil = <T>(allowed: Allowed, pick: (source: string) => boolean, signal: AbortSignal,
  fn: (l: TenantLimits) => Promise<T>) => Promise<T>

/** Loki's ceiling on delay_for, in seconds. */
const MAX_DELAY_S = 5

/** A ping now and then keeps proxies from closing a quiet tail. */
const PING_MS = 15_000

/** Bytes a slow client may have unsent before new lines are dropped (and named in `dropped_entries`). */
const MAX_BUFFERED = 16 * 1024 * 1024

/** Dropped lines named at most per message. */
const MAX_DROPPED = 1000

interface TailRequest { query: LogQuery, limit: number, delayMs: number, start: number }

function tailRequest (q: URLSearchParams): TailRequest {
  const query = logQueryOnly(q, 'tail')
  const limit = lokiCount(q, 'limit', 100, MAX_LINES)
  const delay = q.get('delay_for') ?? '0'
  if (!/^\d+$/.test(delay) || Number(delay) > MAX_DELAY_S) {
    throw new QueryError('bad-input', `delay_for must be a whole number of seconds from 0 to ${MAX_DELAY_S}`)
  }
  return { query, limit, delayMs: Number(delay) * 1000, start: lokiTime(q, 'start', Date.now() - HOUR) }
}

/** The messages of one tail: lines grouped by their labels, and what was dropped since the last message. */
class TailSocket {
  private dropped: Array<{ labels: Labels, timestamp: string }> = []

  constructor (private readonly ws: WebSocket, private readonly delayMs: number) {}

  send (streams: LogStream[]): void {
    if (streams.length === 0) return
    const go = (): void => {
      if (this.ws.readyState !== this.ws.OPEN) return
      if (this.ws.bufferedAmount > MAX_BUFFERED) {
        for (const s of streams) {
          for (const [ns] of s.values) {
            if (this.dropped.length < MAX_DROPPED) this.dropped.push({ labels: s.stream, timestamp: ns })
          }
        }
        return
      }
      const dropped = this.dropped.length > 0 ? this.dropped : null
      this.dropped = []
      this.ws.send(JSON.stringify({ streams, dropped_entries: dropped }))
    }
    if (this.delayMs > 0) setTimeout(go, this.delayMs)
    else go()
  }
}

/** Closes a tail that failed: 1008 and the reason for a bad request, 1013 when the query slots stayed full. */
function failed (ws: WebSocket, err: Error): void {
  if (err instanceof QueryAbandoned) return
  if (err instanceof QueryError) return ws.close(1008, closeReason(err.message))
  if (err instanceof QueryBusy) return ws.close(1013, closeReason(err.message))
  log('error', 'server', `loki tail: ${err.stack ?? err.message}`)
  ws.close(1011, closeReason(err.message))
}

export class LokiTail {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 4096, perMessageDeflate: false })

  constructor (private readonly store: LogStore, private readonly auth: Auth, private readonly gated: GatedUntil) {}

  /** Takes an Upgrade request to TAIL_PATH; `refuse` answers it with an HTTP status instead. */
  upgrade (req: http.IncomingMessage, socket: Duplex, head: Buffer,
    refuse: (status: number, text: string) => void): void {
    const allowed = requestAllowed(this.auth, req)
    if (allowed === null) return refuse(401, 'missing or wrong token')
    let request: TailRequest
    try {
      request = tailRequest(new URL(req.url ?? '/', 'http://x').searchParams)
    } catch (err) {
      // Refused before the upgrade, as Loki does: the client sees 400 and the reason, not an open socket.
      if (err instanceof QueryError) return refuse(400, err.message)
      throw err
    }
    this.wss.handleUpgrade(req, socket, head, ws => {
      this.follow(ws, allowed, request).catch((err: Error) => failed(ws, err))
    })
  }

  /** Ends every tail, as the server stops. */
  async close (): Promise<void> {
    for (const ws of this.wss.clients) ws.close(1001, 'server stopping')
    await new Promise<void>(resolve => this.wss.close(() => resolve()))
  }

  private async follow (ws: WebSocket, allowed: Allowed, r: TailRequest): Promise<void> {
    const out = new TailSocket(ws, r.delayMs)
    const pipeline = compilePipeline(r.query.pipeline)
    const selects = matchesAll(r.query.selector)
    // The socket may close while the opening lines are read: `gone` stops the query and the following.
    const gone = new AbortController()
    const ping = setInterval(() => { if (ws.readyState === ws.OPEN) ws.ping() }, PING_MS)
    ws.on('close', () => {
      clearInterval(ping)
      gone.abort()
    })
    // Where following starts in each source the query selects now, taken before the opening lines are read.
    const next = new Map<SourceIndex, Cursor | null>()
    const streams = await this.store.query(() => {
      const found = selectStreams(this.store.allSources(), allowed, r.query.selector)
      for (const { s } of found) next.set(s, followFrom(s, 0).next)
      return found
    })
    if (gone.signal.aborted) return
    // Lines of appends that arrive while the opening lines are read wait for them.
    let held: LogStream[][] | null = []
    const stop = watchAppends(this.store, s => {
      if (!next.has(s)) {
        if (!allowed(s.tenant) || !selects(sourceLabels(s.source))) return
        next.set(s, null)
      }
      const labels = sourceLabels(s.source)
      const kept: Array<{ ts: number, line: string, labels: Labels }> = []
      let cursor = next.get(s) ?? null
      for (let got = wholeLinesFrom(s, cursor); got !== null; got = wholeLinesFrom(s, cursor)) {
        for (const line of toLines(s, got.spans)) {
          const e = pipeline({ line: line.text, labels })
          if (e !== null) kept.push({ ts: line.ts, line: e.line, labels: e.labels })
        }
        cursor = got.next
      }
      next.set(s, cursor)
      if (held !== null) held.push(toStreams(kept))
      else out.send(toStreams(kept))
    }, err => failed(ws, err))
    gone.signal.addEventListener('abort', stop)
    const pick = (source: string): boolean => selects(sourceLabels(source))
    const range = { since: r.start, until: Date.now(), limit: r.limit, direction: 'backward' as const }
    const opening = await this.gated(allowed, pick, gone.signal, l => this.store.query(() =>
      runLogQuery(this.store, streams, r.query, range, l.scan)))
    out.send(opening.streams.map(s => ({ stream: s.stream, values: s.values.reverse() })))
    for (const streams of held) out.send(streams)
    held = null
  }
}
