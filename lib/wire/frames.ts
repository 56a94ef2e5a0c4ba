// The logfs wire format, version 1 (documented in lib/wire/README.md). Every WebSocket message is one binary frame:
//   byte 0: format version (1) | byte 1: codec (0 = none, 1 = raw deflate), plus 0x80 when an envelope follows |
//   [bytes 2-3: envelope length n, bytes 4..4+n: msgpack [seq, tenant, bytes]] | rest: msgpack body, maybe deflated
// Agents send `batch` frames (and `claim` frames to servers that list the feature); the server answers each with
// `ack` (durable, or claimed) or `nack` (refused), and sends `error` before closing a connection whose frame it
// cannot read.
import { Packr } from 'msgpackr'
import { promisify } from 'node:util'
import { deflateRaw, deflateRawSync, inflateRawSync } from 'node:zlib'
import { isSafePath, tenantOf } from '../util/sources'

export const WIRE_VERSION = 1
export const CODEC_NONE = 0
export const CODEC_DEFLATE = 1
/** Set in byte 1 when the batch's envelope (seq, tenant, log bytes) is in the clear ahead of the body. */
export const ENVELOPE_FLAG = 0x80
/** Largest envelope: a tenant name of 4096 bytes and two integers. */
const MAX_ENVELOPE = 4200
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
/**
 * `claim`: the server answers claim frames. `envelope`: the server reads a batch's envelope (seq, tenant, log
 * bytes in the clear ahead of the body), so it can refuse or throttle the batch before inflating or decoding it.
 */
export const SERVER_FEATURES = ['claim', 'envelope'] as const
export type Feature = typeof SERVER_FEATURES[number]
/**
 * What an agent understands of the server's answers beyond version 1's, listed in the same header of its handshake
 * request. `throttle`: the throttle answer. A server sends an agent no answer it did not list.
 */
export const AGENT_FEATURES = ['throttle'] as const
export type AgentFeature = typeof AGENT_FEATURES[number]

/** The features a FEATURES_HEADER lists (space-separated); none when the header is absent. */
export function parseFeatures (header: string | string[] | undefined): Set<string> {
  return new Set(String(header ?? '').split(' ').filter(f => f !== ''))
}

/** What a batch's envelope says: read before the body, so the server can answer by seq without decoding it. */
export interface Envelope {
  seq: number
  tenant: string
  /** Log bytes in the batch: the sum of its records' data lengths. */
  bytes: number
}

export interface AckFrame { t: 'ack', seq: number, stored: number, duplicate: number }
/**
 * `forbidden`: the token does not cover the tenant; `invalid`: the batch was read but a field is out of range;
 * `conflict`: another agent generation holds the node; `unavailable`: the store cannot write now.
 */
export type NackCode = 'forbidden' | 'invalid' | 'conflict' | 'unavailable'
export interface NackFrame { t: 'nack', seq: number, code: NackCode, message: string }
export interface ErrorFrame { t: 'error', code: 'malformed' | 'unauthorized', message: string }
/**
 * The tenant is over its ingest rate: the batch was neither stored nor refused. Send it again after retryAfterMs,
 * and nothing else of that tenant before. Only to agents that list the `throttle` feature.
 */
export interface ThrottleFrame { t: 'throttle', seq: number, tenant: string, retryAfterMs: number }
export type ServerFrame = AckFrame | NackFrame | ErrorFrame | ThrottleFrame

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

/** Level 1, the cheapest: the agent's CPU per line is what it is chosen for. */
const DEFLATE = { level: 1 }
const deflateRawAsync = promisify(deflateRaw)

const packr = new Packr({ useRecords: false, moreTypes: false })

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
const isName = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 4096
/** One path component: a node or tenant name becomes part of every source name. */
const isComponent = (v: unknown): v is string => isName(v) && !v.includes('/') && isSafePath(v)

/** A frame: the body packed, deflated when asked, after the envelope when one is given. */
export function encodeFrame (body: object, compress: boolean, envelope?: Envelope): Buffer {
  const packed = packr.pack(body)
  return assemble(compress ? deflateRawSync(packed, DEFLATE) : packed, compress, envelope)
}

/**
 * encodeFrame with the deflate on libuv's thread pool. An agent's shipping worker carries every tenant's batches:
 * deflating a 1 MiB batch in line took it ~6 ms, which every other tenant's batch behind it waited out.
 */
export async function encodeFrameAsync (body: object, compress: boolean, envelope?: Envelope): Promise<Buffer> {
  const packed = packr.pack(body)
  return assemble(compress ? await deflateRawAsync(packed, DEFLATE) : packed, compress, envelope)
}

function assemble (payload: Buffer, compressed: boolean, envelope?: Envelope): Buffer {
  const env = envelope ? packr.pack([envelope.seq, envelope.tenant, envelope.bytes]) : undefined
  const at = env ? 4 + env.length : 2
  const frame = Buffer.allocUnsafe(at + payload.length)
  frame[0] = WIRE_VERSION
  frame[1] = (compressed ? CODEC_DEFLATE : CODEC_NONE) | (env ? ENVELOPE_FLAG : 0)
  if (env) {
    frame.writeUInt16BE(env.length, 2)
    env.copy(frame, 4)
  }
  payload.copy(frame, at)
  return frame
}

function checkHead (frame: Buffer): void {
  if (frame.length < 3) throw new WireError(`frame of ${frame.length} bytes is too short`)
  if (frame[0] !== WIRE_VERSION) {
    throw new WireError(`wire version ${frame[0]} is not supported (this server speaks ${WIRE_VERSION})`)
  }
}

/** Where the body starts: after byte 1, or after the envelope. */
function bodyStart (frame: Buffer): number {
  if ((frame[1] & ENVELOPE_FLAG) === 0) return 2
  if (frame.length < 4) throw new WireError('frame too short for its envelope')
  const n = frame.readUInt16BE(2)
  if (n === 0 || n > MAX_ENVELOPE || 4 + n > frame.length) {
    throw new WireError(`envelope of ${n} bytes does not fit the frame (at most ${MAX_ENVELOPE})`)
  }
  return 4 + n
}

/**
 * The envelope of a frame, or null when it has none, without touching the body. An envelope that cannot be read
 * is a WireError; one whose tenant is not a name is an InvalidBatch, answered by its seq.
 */
export function readEnvelope (frame: Buffer): Envelope | null {
  checkHead(frame)
  const at = bodyStart(frame)
  if (at === 2) return null
  let v: unknown
  try {
    v = packr.unpack(frame.subarray(4, at))
  } catch (err) {
    throw new WireError(`envelope is not msgpack: ${(err as Error).message.slice(0, 200)}`)
  }
  if (!Array.isArray(v) || v.length !== 3 || !isInt(v[0]) || !isInt(v[2])) {
    throw new WireError('envelope must be [seq, tenant, bytes] with seq and bytes non-negative integers')
  }
  const [seq, tenant, bytes] = v as [number, unknown, number]
  if (!isComponent(tenant)) throw new InvalidBatch(seq, 'envelope tenant must be a name without /')
  return { seq, tenant, bytes }
}

/** Why a batch does not match its envelope, or null when it does: the envelope was acted on before the body. */
export function envelopeMismatch (envelope: Envelope, frame: AgentFrame): string | null {
  if (frame.t !== 'batch') return 'an envelope comes only with a batch'
  if (frame.seq !== envelope.seq) return `envelope seq ${envelope.seq} is not the batch's ${frame.seq}`
  if (frame.tenant !== envelope.tenant) return `envelope tenant ${envelope.tenant} is not the batch's ${frame.tenant}`
  const bytes = batchBytes(frame)
  if (bytes !== envelope.bytes) return `envelope says ${envelope.bytes} log bytes, the records hold ${bytes}`
  return null
}

/** Log bytes of a batch: what the ingest rate counts. */
export function batchBytes (batch: Pick<BatchFrame, 'recs'>): number {
  let n = 0
  for (const r of batch.recs) n += r[3].length
  return n
}

export function decodeFrame (frame: Buffer): unknown {
  checkHead(frame)
  const at = bodyStart(frame)
  const codec = frame[1] & ~ENVELOPE_FLAG
  let body: Buffer
  if (codec === CODEC_NONE) body = frame.subarray(at)
  else if (codec === CODEC_DEFLATE) {
    try {
      body = inflateRawSync(frame.subarray(at), { maxOutputLength: MAX_BODY })
    } catch (err) {
      throw new WireError(`deflated body does not inflate: ${(err as Error).message}`)
    }
  } else throw new WireError(`codec ${codec} is unknown`)
  try {
    return packr.unpack(body)
  } catch (err) {
    // msgpackr's message can quote what it decoded so far: up to a whole frame of someone else's bytes.
    throw new WireError(`body is not msgpack: ${(err as Error).message.slice(0, 200)}`)
  }
}


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
  if (f === null || typeof f !== 'object' || (f.t !== 'ack' && f.t !== 'nack' && f.t !== 'error' &&
    f.t !== 'throttle')) {
    throw new WireError('server sent a frame of unknown type')
  }
  return f as ServerFrame
}
