// bench:query's cluster half (`npm run bench:query -- --store nats://`): the same JSON lines, written through a real
// mount into a gateway over a 3-node JetStream cluster (R3) started for the run. Once the token filters cover every
// message: the rare-text grep through that gateway (median of 5; the bytes it read, and those no filter covered),
// the same grep on a second gateway started fresh over the cluster (its first answer's time, and whether its hits
// equal the first gateway's), the filters' bytes as a share of the tenant streams' bytes (JetStream's stream info:
// one replica of each), and the first gateway's RSS after its query round.
import { connect } from '@nats-io/transport-node'
import { jetstreamManager } from '@nats-io/jetstream'
import { get, start, time, until, type Started, type Timing } from './harness'
import { fillJsonStore, gauge, rareNeedle, removeJsonStore } from './jsonstore'
import { traceId } from './jsonwriter'
import { NatsCluster } from './natscluster'
import { STREAM_PREFIX } from '../lib/jetstream/subjects'
import { FILTERS_BUCKET_PREFIX } from '../lib/jetstream/filter-format'

export interface ClusterResult {
  storeBytes: number
  ingestMBps: number
  /** From the last byte stored until the token filters covered every message. */
  filterLagMs: number
  grepRare: Timing
  grepRareScannedBytes: number
  grepRareUnindexedBytes: number
  trace: Timing
  /**
   * The second gateway: from its start until it listened, and until its index listed every byte with the filters
   * over them; then its first rare-text grep.
   */
  freshListenMs: number
  freshCaughtUpMs: number
  freshGrepMs: number
  sameHits: boolean
  filterBytes: number
  streamBytes: number
  rssAfterQueriesMiB: number
}

interface Grep { hits: unknown[], scannedBytes: number, unindexedBytes: number }

/**
 * Until the gateway's index lists `bytes` log bytes and its token filters cover them all (the idle tail of a stream
 * is grouped after 5 s).
 */
async function untilFiltered (port: number, bytes: number): Promise<void> {
  await until(async () => await gauge(port, 'logfs_jetstream_bytes') >= bytes &&
    await gauge(port, 'logfs_jetstream_filtered_bytes') >= bytes ? true : undefined, 'token filters')
}

/** Bytes of the tenant streams and of the token filter buckets, one replica each (JetStream's stream info). */
async function clusterBytes (url: string): Promise<{ streamBytes: number, filterBytes: number }> {
  const nc = await connect({ servers: url.replace('nats://', '').split(',') })
  try {
    let streamBytes = 0
    let filterBytes = 0
    for await (const s of (await jetstreamManager(nc)).streams.list()) {
      if (s.config.name.startsWith(STREAM_PREFIX)) streamBytes += s.state.bytes
      if (s.config.name.startsWith(`KV_${FILTERS_BUCKET_PREFIX}`)) filterBytes += s.state.bytes
    }
    return { streamBytes, filterBytes }
  } finally {
    await nc.close()
  }
}

async function stop (p: Started): Promise<void> {
  p.proc.kill('SIGTERM')
  await p.exited
}

export async function measureCluster (total: number): Promise<ClusterResult> {
  // Each tenant's stream may hold all the data and a fifth more (the gateway asks the cluster for that room when it
  // makes the stream, so nothing is removed); each node keeps a copy of both tenants' streams and of the filters.
  const nats = await NatsCluster.start(3, { maxFileStore: `${Math.ceil(total * 2.6 / 1e9) + 1}G` })
  const retention = `${Math.ceil(total * 1.2 / 2 ** 20)}MiB`
  const storeArgs = ['--store', nats.url, '--replicas', '3', '--retention-size', retention]
  try {
    const filled = await fillJsonStore(total, storeArgs)
    const { port, server, written, lines, t0, ingestSeconds } = filled
    try {
      process.stderr.write('bench: waiting for the token filters in the cluster\n')
      await untilFiltered(port, written)
      const filterLagMs = Date.now() - t0 - ingestSeconds * 1000
      const { needle } = rareNeedle(lines)
      const url = `/v1/grep?q=${needle}&limit=10`
      let last: Grep | undefined
      const grepRare = await time(() => get(port, url), v => { last = v as Grep; return last.hits.length >= 1 })
      const mid = Math.floor(lines / 2)
      const trace = await time(() => get(port, `/v1/trace?id=${traceId(mid)}`),
        v => (v as { lines: number }).lines === 3)
      const rss = await gauge(port, 'process_resident_memory_bytes')

      process.stderr.write('bench: a second gateway, started fresh over the cluster\n')
      const f0 = Date.now()
      const fresh = start(['server', '--json', '--listen', '127.0.0.1:0', ...storeArgs])
      try {
        const freshPort = (await until(() => fresh.events.find(e => e.event === 'listening'), 'second gateway'))
          .port as number
        const freshListenMs = Date.now() - f0
        await untilFiltered(freshPort, written)
        const freshCaughtUpMs = Date.now() - f0
        const g0 = process.hrtime.bigint()
        const answer = await get(freshPort, url) as Grep
        const freshGrepMs = Number((Number(process.hrtime.bigint() - g0) / 1e6).toFixed(1))
        return {
          storeBytes: written,
          ingestMBps: Number((written / 1e6 / ingestSeconds).toFixed(1)),
          filterLagMs,
          grepRare,
          grepRareScannedBytes: last!.scannedBytes,
          grepRareUnindexedBytes: last!.unindexedBytes,
          trace,
          freshListenMs,
          freshCaughtUpMs,
          freshGrepMs,
          sameHits: JSON.stringify(answer.hits) === JSON.stringify(last!.hits),
          ...await clusterBytes(nats.url),
          rssAfterQueriesMiB: Math.round(rss / 2 ** 20),
        }
      } finally {
        await stop(fresh)
      }
    } finally {
      await stop(server)
      removeJsonStore(filled)
    }
  } finally {
    await nats.stop()
  }
}

/** The embedded store's figures of the same data that the cluster's are printed beside (bench/query.ts). */
export interface EmbeddedFigures {
  storeBytes: number
  ingestMBps: number
  indexLagMs: number
  grepRareMs: number
  grepRareScannedBytes: number
  traceMs: number
  indexBytes: number
  serverRssMiB: { afterQueries: number }
}

/** The embedded store and the gateway side by side, with the cluster targets at 10 GB. */
export function clusterTable (e: EmbeddedFigures, c: ClusterResult): string {
  const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`
  const share = (bytes: number, of: number): string => `${(100 * bytes / of).toFixed(2)} %`
  return [
    `${(c.storeBytes / 1e9).toFixed(2)} GB: the embedded store beside a gateway over a 3-node JetStream cluster (R3)`,
    '',
    '| measure | embedded store | gateway | target at 10 GB (gateway) |',
    '|---|---|---|---|',
    `| ingest until stored | ${e.ingestMBps} MB/s | ${c.ingestMBps} MB/s | |`,
    `| index written after the last byte was stored | ${e.indexLagMs} ms | ${c.filterLagMs} ms | |`,
    `| rare-text grep, median of 5 | ${e.grepRareMs} ms (read ${mb(e.grepRareScannedBytes)}) | ` +
      `${c.grepRare.medianMs} ms (read ${mb(c.grepRareScannedBytes)}, ${mb(c.grepRareUnindexedBytes)} of it ` +
      'no filter covered) | ≤ 500 ms |',
    `| trace by id, median of 5 | ${e.traceMs} ms | ${c.trace.medianMs} ms | |`,
    '| a second gateway started fresh: listened; index and filters caught up; its first rare-text grep | | ' +
      `${c.freshListenMs} ms; ${c.freshCaughtUpMs} ms; ${c.freshGrepMs} ms, ` +
      `same hits: ${c.sameHits ? 'yes' : 'NO'} | same hits |`,
    `| index bytes over data bytes (gateway: per replica) | ${share(e.indexBytes, e.storeBytes)} (sidecars) | ` +
      `${share(c.filterBytes, c.streamBytes)} (filter buckets over tenant streams) | ≤ 5 % |`,
    `| server RSS after the queries | ${e.serverRssMiB.afterQueries} MiB | ${c.rssAfterQueriesMiB} MiB | ≤ 256 MiB |`,
  ].join('\n')
}
