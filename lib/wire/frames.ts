// The logfs wire format, version 1 (documented in docs/wire.md). Every WebSocket message is one binary frame:
//   byte 0: format version (1) | byte 1: codec (0 = none, 1 = raw deflate) | rest: msgpack body, maybe deflated
// Agents send `batch` frames; the server answers each with `ack` (durable) or `nack` (refused, will not be
// stored), and sends `error` before closing a connection whose frame it cannot read.
import { Packr } from 'msgpackr'
import { deflateRawSync, inflateRawSync } from 'node:zlib'

export const WIRE_VERSION = 1
export const CODEC_NONE = 0
export const CODEC_DEFLATE = 1
/** Largest frame a server accepts, compressed or not, and largest body after inflating. */
export const MAX_FRAME = 16 * 1024 * 1024
export const MAX_BODY = 64 * 1024 * 1024

/** One run of bytes of a source: [path under the mount, cursor offset of data[0], ms timestamp, data]. */
export type WireRecord = [path: string, offset: number, timestamp: number, data: Uint8Array]

export interface BatchFrame {
  t: 'batch'
  /** Per-connection sequence number, echoed in the answer. */
  seq: number
  /** The agent's node name: sources are `node/path` on the server. */
  node: string
  tenant: string
  /** Generation: when this agent process started (ms). Cursors are (gen, offset), ordered by gen first. */
  gen: number
  recs: WireRecord[]
}

export interface AckFrame { t: 'ack', seq: number, stored: number, duplicate: number }
export interface NackFrame { t: 'nack', seq: number, code: 'forbidden' | 'invalid' | 'unavailable', message: string }
export interface ErrorFrame { t: 'error', code: 'malformed' | 'unauthorized', message: string }
export type ServerFrame = AckFrame | NackFrame | ErrorFrame

export class WireError extends Error {
  override name = 'WireError'
}

const packr = new Packr({ useRecords: false, moreTypes: false })

export function encodeFrame (body: object, compress: boolean): Buffer {
  const packed = packr.pack(body)
  const payload = compress ? deflateRawSync(packed, { level: 1 }) : packed
  const frame = Buffer.allocUnsafe(2 + payload.length)
  frame[0] = WIRE_VERSION
  frame[1] = compress ? CODEC_DEFLATE : CODEC_NONE
  payload.copy(frame, 2)
  return frame
}

export function decodeFrame (frame: Buffer): unknown {
  if (frame.length < 3) throw new WireError(`frame of ${frame.length} bytes is too short`)
  if (frame[0] !== WIRE_VERSION) throw new WireError(`wire version ${frame[0]} is not supported (this server speaks ${WIRE_VERSION})`)
  let body: Buffer
  if (frame[1] === CODEC_NONE) body = frame.subarray(2)
  else if (frame[1] === CODEC_DEFLATE) {
    try {
      body = inflateRawSync(frame.subarray(2), { maxOutputLength: MAX_BODY })
    } catch (err) {
      throw new WireError(`deflated body does not inflate: ${(err as Error).message}`)
    }
  } else throw new WireError(`codec ${frame[1]} is unknown`)
  try {
    return packr.unpack(body)
  } catch (err) {
    throw new WireError(`body is not msgpack: ${(err as Error).message}`)
  }
}

/** The tenant a path belongs to: its top-level directory, or `default` for files at the top. */
export function tenantOf (path: string): string {
  const slash = path.indexOf('/')
  return slash > 0 ? path.slice(0, slash) : 'default'
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
const isName = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 4096

/** A path under the mount as the agent sends it: relative, no empty, `.` or `..` components. */
export function isSafePath (p: string): boolean {
  if (p.startsWith('/') || p.includes('\0')) return false
  return p.split('/').every(part => part !== '' && part !== '.' && part !== '..')
}

/** Checks a decoded frame field by field, so nothing malformed reaches the store. */
export function asBatch (v: unknown): BatchFrame {
  const f = v as Partial<BatchFrame> | null
  if (f === null || typeof f !== 'object' || f.t !== 'batch') throw new WireError('frame is not a batch')
  if (!isInt(f.seq)) throw new WireError('batch.seq must be a non-negative integer')
  if (!isName(f.node) || f.node.includes('/')) throw new WireError('batch.node must be a name without /')
  if (!isName(f.tenant) || f.tenant.includes('/')) throw new WireError('batch.tenant must be a name without /')
  if (!isInt(f.gen)) throw new WireError('batch.gen must be a non-negative integer')
  if (!Array.isArray(f.recs)) throw new WireError('batch.recs must be an array')
  for (const r of f.recs as unknown[]) {
    if (!Array.isArray(r) || r.length !== 4) throw new WireError('a record must be [path, offset, timestamp, data]')
    const [path, offset, ts, data] = r as unknown[]
    if (!isName(path) || !isSafePath(path)) throw new WireError(`record path ${JSON.stringify(path)} is not a relative path inside the mount`)
    if (tenantOf(path) !== f.tenant) {
      throw new WireError(`record path ${path} is not in tenant ${f.tenant}`)
    }
    if (!isInt(offset)) throw new WireError('record offset must be a non-negative integer')
    if (typeof ts !== 'number' || !Number.isFinite(ts)) throw new WireError('record timestamp must be a number')
    if (!(data instanceof Uint8Array)) throw new WireError('record data must be binary')
  }
  return f as BatchFrame
}

export function asServerFrame (v: unknown): ServerFrame {
  const f = v as Partial<ServerFrame> | null
  if (f === null || typeof f !== 'object' || (f.t !== 'ack' && f.t !== 'nack' && f.t !== 'error')) {
    throw new WireError('server sent a frame of unknown type')
  }
  return f as ServerFrame
}
