// One JetStream message holds one run of one source's bytes (an agent record, or a piece of one larger than the
// cluster's max_payload). The bytes are the payload as the application wrote them; where they belong is in
// headers, so a headers-only consumer can index a stream without reading its bytes. Format version 1:
//
//   Logfs-Version  1
//   Logfs-Gen      agent generation of the bytes (decimal)
//   Logfs-Offset   byte offset of the first byte in that generation of the file (decimal)
//   Logfs-Time     when the agent took the first write (ms since the epoch, decimal)
//   Nats-Msg-Id    SUBJECT-TOKEN:GEN:OFFSET:LENGTH: JetStream drops a resend of the same run within its
//                  duplicate window (lib/jetstream/README.md says what covers resends after it)
import { headers, type MsgHdrs } from '@nats-io/nats-core'

export const MESSAGE_VERSION = 1

export interface RunMeta { gen: number, offset: number, timestamp: number }

export class MessageError extends Error {
  override name = 'MessageError'
}

export function runHeaders (m: RunMeta): MsgHdrs {
  const h = headers()
  h.set('Logfs-Version', String(MESSAGE_VERSION))
  h.set('Logfs-Gen', String(m.gen))
  h.set('Logfs-Offset', String(m.offset))
  h.set('Logfs-Time', String(m.timestamp))
  return h
}

export function runId (subject: string, m: RunMeta, length: number): string {
  return `${subject.slice(subject.lastIndexOf('.') + 1)}:${m.gen}:${m.offset}:${length}`
}

/** A delivered message's Nats-Msg-Id (its run's, as runId made it); '' when it has none. */
export function msgIdOf (h: MsgHdrs | undefined): string { return h?.get('Nats-Msg-Id') ?? '' }

function count (h: MsgHdrs, name: string): number {
  const text = h.get(name)
  if (!/^\d{1,16}$/.test(text)) throw new MessageError(`header ${name} is '${text}', not a whole number`)
  return Number(text)
}

/** Where a message's bytes belong, and how many there are (from Nats-Msg-Size when only headers came). */
export function readRun (h: MsgHdrs | undefined, payloadBytes: number): RunMeta & { length: number } {
  if (!h) throw new MessageError('message has no headers')
  const version = h.get('Logfs-Version')
  if (version !== String(MESSAGE_VERSION)) {
    throw new MessageError(`message format version '${version}' is not ${MESSAGE_VERSION} (a newer gateway wrote it?)`)
  }
  const size = h.get('Nats-Msg-Size')
  return {
    gen: count(h, 'Logfs-Gen'),
    offset: count(h, 'Logfs-Offset'),
    timestamp: count(h, 'Logfs-Time'),
    length: size === '' ? payloadBytes : count(h, 'Nats-Msg-Size'),
  }
}
