// A raw ingest client for tests that speak the wire protocol themselves: hostile frames, fuzzing, odd names.
import WebSocket from 'ws'
import { decodeFrame } from '../../lib/wire/frames'

export function connect (url: string, token: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url + '/v1/ingest', { headers: { authorization: `Bearer ${token}`, ...headers } })
    ws.once('open', () => resolve(ws))
    ws.once('unexpected-response', (_req, res) =>
      reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })))
    ws.once('error', reject)
  })
}

export interface Answer { frame: Record<string, unknown> | null, close: Promise<[number, string]> }

/** The server's next frame on `ws` (null when it closes first), and the close that may follow. */
export function answer (ws: WebSocket): Promise<Answer> {
  const close = new Promise<[number, string]>(resolve =>
    ws.once('close', (code, reason) => resolve([code, reason.toString()])))
  return new Promise(resolve => {
    ws.once('message', (data: Buffer) => resolve({ frame: decodeFrame(data) as Record<string, unknown>, close }))
    ws.once('close', () => resolve({ frame: null, close }))
  })
}

/** Sends one frame and waits for the answer. */
export async function exchange (ws: WebSocket, frame: Buffer | string): Promise<Answer> {
  const pending = answer(ws)
  ws.send(frame)
  return pending
}

export const batch = (seq: number, tenant: string, recs: unknown[], over: Record<string, unknown> = {}): object =>
  ({ t: 'batch', seq, node: 'n1', tenant, gen: 1, recs, ...over })
