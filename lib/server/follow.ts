// `tail --follow` as Server-Sent Events: the last lines of one source and then each new whole line as the store
// makes it durable, or every source a glob matches, from now on. A stream lasts until its client goes away.
import type http from 'node:http'
import type { LogStore } from '../store/log-store'
import type { Cursor, SourceIndex } from '../store/source'
import { lineAt, toLines, type Line } from '../query/lines'
import { followFrom, wholeLinesFrom } from '../query/tail'

/** Proxies drop a connection that is quiet for long; a comment line now and then keeps it open. */
const HEARTBEAT_MS = 15_000

function open (res: http.ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' })
}

function send (res: http.ServerResponse, event: 'line' | 'lines', line: Line): void {
  res.write(`event: ${event}\ndata: ${JSON.stringify(line)}\n\n`)
}

/**
 * Runs `onAppend` for every append until the returned stop is called, one after another through `store.walk` (a
 * gateway fetches the new bytes from its cluster; its index already holds them, so it does not ask the cluster
 * for the streams' ends on every append): a follower's cursor moves in order. The first error stops it and goes
 * to `onError`.
 */
export function watchAppends (store: LogStore, onAppend: (s: SourceIndex) => void | Promise<void>,
  onError: (err: Error) => void): () => void {
  let turn = Promise.resolve()
  let failed = false
  const listener = (s: SourceIndex): void => {
    turn = turn.then(() => failed ? undefined : store.walk(() => onAppend(s))).catch((err: Error) => {
      if (failed) return
      failed = true
      stop()
      onError(err)
    })
  }
  const stop = (): void => { store.off('append', listener) }
  store.on('append', listener)
  return stop
}

/** Follows appends for a Server-Sent Events client until it goes (watchAppends). */
function stream (store: LogStore, req: http.IncomingMessage, res: http.ServerResponse,
  onAppend: (s: SourceIndex) => void): void {
  const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS)
  const stop = watchAppends(store, onAppend, err => {
    res.end(`event: error\ndata: ${JSON.stringify({ error: err.message })}\n\n`)
    req.destroy()
  })
  req.on('close', () => {
    clearInterval(heartbeat)
    stop()
  })
  res.write(': following\n\n')
}

/** The last `n` whole lines of `s` as `line` events, then each new whole line. */
export async function followSource (store: LogStore, s: SourceIndex, n: number, req: http.IncomingMessage,
  res: http.ServerResponse): Promise<void> {
  // The caller resolved `s` through `store.query`: the index is as current as a follower needs.
  const start = await store.walk(() => followFrom(s, n))
  open(res)
  for (const line of start.lines) send(res, 'line', line)
  let next = start.next
  stream(store, req, res, changed => {
    if (changed !== s) return
    const got = wholeLinesFrom(s, next)
    if (got === null) return
    for (const line of toLines(s, got.spans)) send(res, 'line', line)
    next = got.next
  })
}

/**
 * New whole lines of the sources `known` from now on, and of every source `admits` that appears later (from its
 * start). One `lines` event per source and append, not one per line: following busy sources must not cost more
 * than storing them.
 */
export async function followSources (store: LogStore, known: SourceIndex[], admits: (s: SourceIndex) => boolean,
  req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const wanted = new Set(known)
  const next = new Map<SourceIndex, Cursor>()
  await store.walk(() => { for (const s of known) next.set(s, followFrom(s, 0).next) })
  open(res)
  stream(store, req, res, s => {
    if (!wanted.has(s)) {
      if (!admits(s)) return
      wanted.add(s)
    }
    const got = wholeLinesFrom(s, next.get(s) ?? null)
    if (got === null) return
    send(res, 'lines', lineAt(s, got.spans[0].pos, got.spans[got.spans.length - 1].end))
    next.set(s, got.next)
  })
}
