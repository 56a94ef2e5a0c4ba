// Helpers of the ingest rate tests: the limits file, metrics by name and labels, and stored rates.
import fs from 'node:fs'
import { sleep, sources, type Server } from './cluster'

export const MiB = 1024 * 1024

/** Writes a limits file giving these tenants these limits (`{ shop: { ingest: '1MiB/s', burst: '2MiB' } }`). */
export function writeLimits (file: string, tenants: Record<string, Record<string, string>>): void {
  fs.writeFileSync(file, JSON.stringify({ tenants }, null, 2) + '\n')
}

/** A sample of a metric at `url` + /metrics; 0 when it is not listed. */
export async function metric (url: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(url + '/metrics')).text()
  const l = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(',')
  const key = l ? `${name}{${l}}` : name
  const line = text.split('\n').find(x => x.startsWith(key + ' '))
  return line === undefined ? 0 : Number(line.slice(key.length + 1))
}

/** Bytes of a source the server holds now. */
export async function stored (server: Server, source: string): Promise<number> {
  return (await sources(server)).find(s => s.source === source)?.bytes ?? 0
}

/** Bytes per second at which the server stored a source over `ms`. */
export async function storedRate (server: Server, source: string, ms: number): Promise<number> {
  const b0 = await stored(server, source)
  const t0 = Date.now()
  await sleep(ms)
  const b1 = await stored(server, source)
  return (b1 - b0) / ((Date.now() - t0) / 1000)
}

/** The largest growth of a source between two looks `every` ms apart over `ms`: about one batch at a time. */
export async function largestStep (server: Server, source: string, ms: number, every = 20): Promise<number> {
  const end = Date.now() + ms
  let last = await stored(server, source)
  let largest = 0
  while (Date.now() < end) {
    await sleep(every)
    const now = await stored(server, source)
    largest = Math.max(largest, now - last)
    last = now
  }
  return largest
}
