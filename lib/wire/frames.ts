// The logfs wire format, version 1 (documented in lib/wire/README.md). Every WebSocket message is one binary frame:
//   byte 0: format version (1) | byte 1: codec (0 = none, 1 = raw deflate) | rest: msgpack body, maybe deflated
// Agents send `batch` frames (and `claim` frames to servers that list the feature); the server answers each with
// `ack` (durable, or claimed) or `nack` (refused), and sends `error` before closing a connection whose frame it
// cannot read.
import { Packr } from 'msgpackr'
import { deflateRawSync, inflateRawSync } from 'node:zlib'
import { isSafePath, tenantOf } from '../util/sources'

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

/**
 * Takes or keeps the node for `gen` without sending bytes: a mount checks at start that no other live agent
 * holds its node, and holds it while it runs. Answered `ack` (stored 0) or `nack` `conflict`.
 */
export interface ClaimFrame {
  t: 'claim'
  seq: number
  node: string
  gen: number
}

export type AgentFrame = BatchFrame | ClaimFrame

/**
 * What a server can do beyond version 1's batches, listed in this header of its WebSocket handshake answer. A
 * server that predates a feature does not list it, and an agent then does without it.
 */
export const FEATURES_HEADER = 'logfs-features'
/** `claim`: the server answers claim frames. */
export const SERVER_FEATURES = ['claim'] as const
export type Feature = typeof SERVER_FEATURES[number]

export interface AckFrame { t: 'ack', seq: number, stored: number, duplicate: number }
/**
 * `forbidden`: the token does not cover the tenant; `invalid`: the batch was read but a field is out of range;
 * `conflict`: another agent generation holds the node; `unavailable`: the store cannot write now.
 */
export type NackCode = 'forbidden' | 'invalid' | 'conflict' | 'unavailable'
export interface NackFrame { t: 'nack', seq: number, code: NackCode, message: string }
export interface ErrorFrame { t: 'error', code: 'malformed' | 'unauthorized', message: string }
export type ServerFrame = AckFrame | NackFrame | ErrorFrame

/** A frame that cannot be read or has no usable seq: the connection is closed, since answers could not match. */
export class WireError extends Error {
  override name = 'WireError'
}

/** A batch that was read, with its seq, but whose content is refused: answered with a nack, connection kept. */
export class InvalidBatch extends WireError {
  override name = 'InvalidBatch'
  constructor (readonly seq: number, message: string) { super(message) }
}

/**
 * Record times are the agent's wall clock in ms. Outside [0, 8.64e15] (JavaScript's Date range) no clock could
 * have produced them, and every reader that formats a time would fail on them.
 */
export const MAX_TIMESTAMP = 8.64e15

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
  if (frame[0] !== WIRE_VERSION) {
    throw new WireError(`wire version ${frame[0]} is not supported (this server speaks ${WIRE_VERSION})`)
  }
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
    // msgpackr's message can quote what it decoded so far: up to a whole frame of someone else's bytes.
    throw new WireError(`body is not msgpack: ${(err as Error).message.slice(0, 200)}`)
  }
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
const isName = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 4096
/** One path component: a node or tenant name becomes part of every source name. */
const isComponent = (v: unknown): v is string => isName(v) && !v.includes('/') && isSafePath(v)

/** Checks a decoded frame field by field, so nothing malformed reaches the store. */
export function asAgentFrame (v: unknown): AgentFrame {
  const f = v as Partial<AgentFrame> | null
  if (f === null || typeof f !== 'object' || (f.t !== 'batch' && f.t !== 'claim')) {
    throw new WireError('frame is not a batch or a claim')
  }
  if (!isInt(f.seq)) throw new WireError(`${f.t}.seq must be a non-negative integer`)
  const seq = f.seq
  const refuse = (message: string): never => { throw new InvalidBatch(seq, message) }
  if (!isComponent(f.node)) refuse(`${f.t}.node must be a name without /`)
  if (f.t === 'claim') {
    if (!isInt(f.gen)) refuse('claim.gen must be a non-negative integer')
    return f as ClaimFrame
  }
  return checkBatch(f as Partial<BatchFrame>, refuse)
}

function checkBatch (f: Partial<BatchFrame>, refuse: (message: string) => never): BatchFrame {
  if (!isComponent(f.tenant)) refuse('batch.tenant must be a name without /')
  if (!isInt(f.gen)) refuse('batch.gen must be a non-negative integer')
  if (!Array.isArray(f.recs)) refuse('batch.recs must be an array')
  for (const r of f.recs as unknown[]) {
    if (!Array.isArray(r) || r.length !== 4) refuse('a record must be [path, offset, timestamp, data]')
    const [path, offset, ts, data] = r as unknown[]
    if (!isName(path) || !isSafePath(path)) {
      refuse(`record path ${JSON.stringify(path)} is not a relative path inside the mount`)
    }
    if (tenantOf(path) !== f.tenant) {
      refuse(`record path ${String(path)} is not in tenant ${String(f.tenant)}`)
    }
    if (!isInt(offset)) refuse('record offset must be a non-negative integer')
    if (typeof ts !== 'number' || !(ts >= 0 && ts <= MAX_TIMESTAMP)) {
      refuse(`record timestamp ${String(ts)} is not a time in ms since 1970 (0 to ${MAX_TIMESTAMP})`)
    }
    if (!(data instanceof Uint8Array)) refuse('record data must be binary')
    if (!isInt((offset) + (data).length)) refuse('record offset + length is beyond 2^53')
  }
  return f as BatchFrame
}

/** A batch, or WireError: for readers of recorded batches. */
export function asBatch (v: unknown): BatchFrame {
  const f = asAgentFrame(v)
  if (f.t !== 'batch') throw new WireError('frame is not a batch')
  return f
}

export function asServerFrame (v: unknown): ServerFrame {
  const f = v as Partial<ServerFrame> | null
  if (f === null || typeof f !== 'object' || (f.t !== 'ack' && f.t !== 'nack' && f.t !== 'error')) {
    throw new WireError('server sent a frame of unknown type')
  }
  return f as ServerFrame
}
