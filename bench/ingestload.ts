// The load bench:scaleout puts on a target: agent connections sending batches to its servers, in a closed loop (the
// ingest ceiling) or paced (the acknowledgement latency an agent sees at a given rate), and the figures it reads
// back: the CPU its processes spent, and counters from their /metrics.
import fs from 'node:fs'
import { TOKEN } from './harness'
import { ServerLink } from '../lib/ship/link'

export const SENDERS = 8
export const BATCH = 256 * 1024
export const RATE_MBS = 8
export const RATE_BATCH = 64 * 1024

/** `nacks`: batches the server answered `unavailable`, sent again. */
export interface Phase { mbs: number, p50ms: number, p99ms: number, batches: number, nacks: number }

/** CPU seconds (user + system) of processes so far, from /proc. */
export function cpuSeconds (pids: number[]): number {
  let ticks = 0
  for (const pid of pids) {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    ticks += Number(fields[11]) + Number(fields[12])
  }
  return ticks / 100
}

function quantile (sorted: number[], q: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
}

/** A counter summed over the target's servers (0 where a server does not have it). */
export async function counter (ports: number[], name: string): Promise<number> {
  let n = 0
  for (const port of ports) {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
    n += Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0)
  }
  return n
}

/**
 * SENDERS connections spread over the target's URLs, each its own node; sender k writes tenant k % streams, so
 * every tenant stream gets the same load. Closed loop when `rateMBs` is null, else paced to that total.
 */
export async function load (urls: string[], streams: number, tag: string, rateMBs: number | null,
  seconds: number): Promise<Phase> {
  const batch = rateMBs === null ? BATCH : RATE_BATCH
  const data = Buffer.alloc(batch, 'x')
  for (let i = 199; i < batch; i += 200) data[i] = 0x0a
  const lat: number[] = []
  let bytes = 0
  let nacks = 0
  const until = Date.now() + seconds * 1000
  const links = Array.from({ length: SENDERS },
    (_, k) => new ServerLink({ urls: [urls[k % urls.length]], token: TOKEN, timeoutMs: 30_000, compress: false }))
  const perSenderGapMs = rateMBs === null ? 0 : (batch * SENDERS) / (rateMBs * 1e6) * 1000
  const t0 = Date.now()
  await Promise.all(links.map(async (link, k) => {
    let offset = 0
    let next = Date.now() + (perSenderGapMs * k) / SENDERS
    while (Date.now() < until) {
      if (perSenderGapMs > 0) {
        const wait = next - Date.now()
        if (wait > 0) await new Promise(resolve => setTimeout(resolve, wait))
        next += perSenderGapMs
      }
      const sent = process.hrtime.bigint()
      const tenant = `t${k % streams}`
      // As an agent does: a batch the server could not store now is sent again, and counted.
      const send = (): ReturnType<ServerLink['send']> => link.send({
        node: `${tag}-${k}`, tenant, gen: 1, recs: [[`${tenant}/app.log`, offset, Date.now(), data]],
      }).catch(async (err: Error) => {
        if (!/cannot store now/.test(err.message)) throw err
        nacks++
        await new Promise(resolve => setTimeout(resolve, 100))
        return await send()
      })
      const { ack } = await send()
      lat.push(Number(process.hrtime.bigint() - sent) / 1e6)
      if (ack.stored !== batch) throw new Error(`sender ${k}: stored ${ack.stored} of ${batch} bytes`)
      offset += batch
      bytes += batch
    }
  }))
  const took = (Date.now() - t0) / 1000
  for (const l of links) l.close()
  lat.sort((a, b) => a - b)
  const round = (n: number): number => Number(n.toFixed(1))
  const mbs = round(bytes / 1e6 / took)
  return { mbs, p50ms: round(quantile(lat, 0.5)), p99ms: round(quantile(lat, 0.99)), batches: lat.length, nacks }
}
