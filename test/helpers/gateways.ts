// Helpers of the tests of gateways on a real JetStream cluster: the cluster, a gateway, its metrics, the index bucket,
// a link as an agent's, and everything a reader asks a gateway (to compare gateways' answers).
import type { Test } from 'tap'
import { connect } from '@nats-io/transport-node'
import { Objm, type ObjectStore } from '@nats-io/obj'
import { TOKEN, api, readSource, sleep, sources, startServer, type Server } from './cluster'
import { NatsCluster } from '../../bench/natscluster'
import { ServerLink } from '../../lib/ship/link'
import { INDEX_BUCKET } from '../../lib/jetstream/snapshots'

export async function cluster (t: Test): Promise<NatsCluster> {
  const nats = await NatsCluster.start(3)
  t.teardown(() => nats.stop())
  return nats
}

export function gateway (t: Test, nats: NatsCluster, extra: string[] = []): Promise<Server> {
  return startServer(t, {
    args: ['--store', nats.url, '--replicas', '3', '--retention-size', '256MiB', ...extra],
  })
}

export async function metric (s: Server, name: string): Promise<number> {
  const text = await (await fetch(`${s.http}/metrics`)).text()
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text)
  return m ? Number(m[1]) : NaN
}

export async function bucket (t: Test, nats: NatsCluster): Promise<ObjectStore> {
  const nc = await connect({ servers: nats.url.replace('nats://', '').split(',') })
  t.teardown(() => nc.close())
  return await new Objm(nc).create(INDEX_BUCKET, { replicas: 3 })
}

export const linkTo = (g: Server): ServerLink =>
  new ServerLink({ urls: [`${g.ws}/v1/ingest`], token: TOKEN, timeoutMs: 15000, compress: false })

/**
 * Sends a batch as an agent does: a restarted agent's first batch may come before the gateway has seen the old
 * generation's connection close and freed its claim in the cluster, and is refused `conflict` until then.
 */
export async function sendAs (link: ServerLink, batch: Parameters<ServerLink['send']>[0]): Promise<void> {
  for (let tries = 0; ; tries++) {
    try {
      await link.send(batch)
      return
    } catch (err) {
      if (tries >= 50 || !/\(conflict\)/.test((err as Error).message)) throw err
      await sleep(100)
    }
  }
}

/** Everything a reader asks a gateway, for comparing gateways: sources, their bytes, a grep for `token`, context. */
export async function answers (g: Server, token = 'needle'): Promise<unknown> {
  const list = await sources(g)
  const bytes = await Promise.all(list.map(async s => (await readSource(g, s.source)).toString()))
  const grep = (await api<{ hits: Array<{ source: string, cursor: string }> }>(g, `/v1/grep?q=${token}`)).body
  const hit = grep.hits[grep.hits.length - 1]
  const context = (await api(g, `/v1/context?source=${encodeURIComponent(hit.source)}&cursor=${hit.cursor}`)).body
  return { list, bytes, hits: grep.hits, context }
}
