// `--store nats://H:P[,H:P...]`: the seed servers of a JetStream cluster. The client learns the rest of the cluster
// from them, so one reachable seed is enough to connect.
import { InputError } from '../util/units'

const EXAMPLE = 'nats://10.0.0.1:4222,10.0.0.2:4222'

/** The `host:port` of each seed, in the order given. */
export function parseNatsServers (text: string): string[] {
  if (!text.startsWith('nats://')) {
    throw new InputError(`--store: '${text}' is not a nats:// URL list (example: ${EXAMPLE})`)
  }
  const out: string[] = []
  for (const part of text.split(',')) {
    const hostPort = part.trim().replace(/^nats:\/\//, '')
    const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(hostPort)
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) {
      throw new InputError(`--store: '${part.trim()}' is not HOST:PORT (example: ${EXAMPLE})`)
    }
    out.push(hostPort)
  }
  return out
}
