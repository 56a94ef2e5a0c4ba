// A piscina worker: reads a range of a tenant's ring, frames it as one batch and ships it over its own
// WebSocket connection. The task resolves only when the server has made the batch durable.
import { readRecords } from '../ring/records'
import { RefusedError, ServerLink, ThrottledError, type LinkOptions } from './link'
import type { WireRecord } from '../wire/frames'

export interface ShipTask {
  link: LinkOptions
  node: string
  tenant: string
  gen: number
  data: SharedArrayBuffer
  control: SharedArrayBuffer
  start: number
  end: number
  /** Source id → path for every source with records in the range. */
  names: Array<[number, string]>
}

export interface ShipResult {
  ok: true
  records: number
  bytes: number
  wireBytes: number
  stored: number
  duplicate: number
}

/** A failed send, as data: error classes do not survive the trip between threads. */
export interface ShipFailure {
  ok: false
  /** The server said no (token, tenant) and will say it again: worth an error, not a warning. */
  refused: boolean
  message: string
  /** The server throttled the tenant: ms to wait before sending this batch again. */
  retryAfterMs?: number
}

const links = new Map<string, ServerLink>()

function linkFor (options: LinkOptions): ServerLink {
  const key = `${options.urls.join(',')}\n${options.token}`
  let link = links.get(key)
  if (!link) {
    link = new ServerLink(options)
    links.set(key, link)
  }
  return link
}

/** Joins consecutive writes of one source into one record: fewer, larger records for the wire and the store. */
export function collect (task: Pick<ShipTask, 'data' | 'control' | 'start' | 'end' | 'names'>):
  { recs: WireRecord[], bytes: number } {
  const names = new Map(task.names)
  const runs: Array<{ path: string, offset: number, ts: number, length: number, parts: Uint8Array[] }> = []
  let bytes = 0
  readRecords(task.data, task.control, task.start, task.end, (r) => {
    const path = names.get(r.sourceId)
    if (path === undefined) throw new Error(`ring record names source ${r.sourceId}, which the task did not list`)
    bytes += r.data.length
    const last = runs[runs.length - 1]
    if (last !== undefined && last.path === path && last.offset + last.length === r.offset) {
      last.parts.push(r.data)
      last.length += r.data.length
    } else {
      runs.push({ path, offset: r.offset, ts: r.timestamp, length: r.data.length, parts: [r.data] })
    }
  })
  // Buffer.concat copies out of shared memory: the range may be reused as soon as it is acknowledged.
  return { recs: runs.map(r => [r.path, r.offset, r.ts, Buffer.concat(r.parts, r.length)]), bytes }
}

export default async function ship (task: ShipTask): Promise<ShipResult | ShipFailure> {
  const { recs, bytes } = collect(task)
  try {
    const { ack, wireBytes } = await linkFor(task.link)
      .send({ node: task.node, tenant: task.tenant, gen: task.gen, recs })
    return { ok: true, records: recs.length, bytes, wireBytes, stored: ack.stored, duplicate: ack.duplicate }
  } catch (err) {
    const retryAfterMs = err instanceof ThrottledError ? err.retryAfterMs : undefined
    return { ok: false, refused: err instanceof RefusedError, message: (err as Error).message, retryAfterMs }
  }
}
