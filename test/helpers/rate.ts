// Helpers of the ingest rate tests: the limits file, metrics by name and labels, and stored rates.
import fs from 'node:fs'
import { sleep, sources, type Server } from './cluster'

export const MiB = 1024 * 1024

/** Writes a limits file giving these tenants these limits (`{ shop: { ingest: '1MiB/s', burst: '2MiB' } }`). */
export function writeLimits (file: string, tenants: Record<string, Record<string, string>>): void {
  fs.writeFileSync(file, JSON.stringify({ tenants }, null, 2) + '\n')
}

/** The samples of metrics at `url` + /metrics, by name and labels as written there. */
async function scrape (url: string): Promise<(name: string, labels?: Record<string, string>) => number> {
  const text = await (await fetch(url + '/metrics')).text()
  return (name, labels = {}) => {
    const l = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(',')
    const key = l ? `${name}{${l}}` : name
    const line = text.split('\n').find(x => x.startsWith(key + ' '))
    return line === undefined ? 0 : Number(line.slice(key.length + 1))
  }
}

/** A sample of a metric at `url` + /metrics; 0 when it is not listed. */
export async function metric (url: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  return (await scrape(url))(name, labels)
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

/** How many batches of a tenant the server stored, in all and of at most `bytes` (a bucket bound), in one scrape. */
export async function batchSizes (url: string, tenant: string, bytes: number): Promise<{ all: number, small: number }> {
  const sample = await scrape(url)
  return {
    all: sample('logfs_server_batch_bytes_count', { tenant }),
    small: sample('logfs_server_batch_bytes_bucket', { le: String(bytes), tenant }),
  }
}
