// A gateway's cold start: `npm run bench:coldstart` (about 3 minutes at the default size; `-- --size MB`,
// `-- --message BYTES`, `-- --json`). A 3-node JetStream cluster (R3) is filled through a gateway with --size MB in
// messages of --message bytes; then a fresh gateway is started twice, once with no index snapshot in the cluster
// (it reads every message's headers) and once after one was written (it loads it and reads what came after).
// Each time: until it listened, until it answered /v1/sources, its RSS then and after a query round (sources,
// every source's tail and first page, a grep of a rare token in one source), and whether its answers equal the
// first gateway's. (A grep of the whole store fetches every message: lib/jetstream/README.md, "Not here".)
// With the snapshot it starts twice more: as it comes (the sources' older entries are in index pages, which it
// does not fetch until a query walks the source) and with --index-entries 0 (it lets go of paged entries as soon
// as no query uses them): the sources it holds released, and the pages the query round fetched, say what paging
// saved. The index's cost per message is the gateway that read every header's RSS less an idle gateway's, over
// the messages it lists.
import { connect } from '@nats-io/transport-node'
import { Objm } from '@nats-io/obj'
import { TOKEN, fail, get, machineLine, saveResults, start, until, type Started } from './harness'
import { NatsCluster } from './natscluster'
import { ServerLink } from '../lib/ship/link'
import { INDEX_BUCKET } from '../lib/jetstream/snapshots'

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(name)
  return i > 0 ? Number(process.argv[i + 1]) : fallback
}
const SIZE_MB = arg('--size', 200)
const MESSAGE_BYTES = arg('--message', 1000)
const JSON_OUT = process.argv.includes('--json')
const SENDERS = 4
/** Sources per batch: each batch is as many messages, one per source. */
const FILES = 8
/** The source the query round greps, and how many of its messages go by between two holding the rare token. */
const GREPPED = 'sender-0/cold/app-0.log'
const RARE = 1000

interface Gateway { p: Started, port: number }

interface ColdStart {
  snapshot: boolean
  /** The gateway's --index-entries, when given. */
  held: string
  releasedAtStart: number
  pagesFetched: number
  listenMs: number
  sourcesMs: number
  loadedMessages: number
  replayedMessages: number
  rssStartMiB: number
  rssQueriedMiB: number
  queryRoundMs: number
  same: boolean
}

async function gateway (args: string[]): Promise<Gateway> {
  const p = start(['server', '--json', '--listen', '127.0.0.1:0', ...args])
  const port = (await until(() => p.events.find(e => e.event === 'listening'), 'gateway', 600_000)).port as number
  return { p, port }
}

async function stop (g: Gateway): Promise<void> {
  g.p.proc.kill('SIGTERM')
  await g.p.exited
}

async function metric (g: Gateway, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${g.port}/metrics`)).text()
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN)
}

const mib = (n: number): number => Math.round(n / 2 ** 20)

/** SENDERS agents, each its own node and FILES sources, sending one message per source per batch. */
async function fill (g: Gateway): Promise<number> {
  const total = Math.floor(SIZE_MB * 1e6 / MESSAGE_BYTES)
  let sent = 0
  const line = (n: number, rare: boolean): string =>
    `${new Date(1_700_000_000_000 + n).toISOString()} message ${n} ${rare ? 'needle' : 'status ok'} `
  await Promise.all(Array.from({ length: SENDERS }, async (_, k) => {
    const link = new ServerLink({ urls: [`ws://127.0.0.1:${g.port}/v1/ingest`], token: TOKEN, timeoutMs: 30_000,
      compress: false })
    const offsets = new Array<number>(FILES).fill(0)
    try {
      for (let b = 0; sent < total; b++) {
        const recs: Array<[string, number, number, Buffer]> = []
        for (let f = 0; f < FILES && sent < total; f++, sent++) {
          const head = line(sent, `sender-${k}/cold/app-${f}.log` === GREPPED && b % RARE === 0)
          const data = Buffer.from(head.padEnd(MESSAGE_BYTES - 1, 'x') + '\n')
          recs.push([`cold/app-${f}.log`, offsets[f], Date.now(), data])
          offsets[f] += data.length
        }
        await link.send({ node: `sender-${k}`, tenant: 'cold', gen: 1, recs })
      }
    } finally {
      link.close()
    }
  }))
  return total
}

/** What a reader sees, for comparing gateways, and how long it took to ask. */
async function queryRound (g: Gateway): Promise<{ answers: string, ms: number }> {
  const t0 = Date.now()
  const { sources } = await get(g.port, '/v1/sources') as { sources: Array<{ source: string }> }
  const parts: unknown[] = [sources]
  for (const { source } of sources) {
    const s = encodeURIComponent(source)
    parts.push(await get(g.port, `/v1/tail?source=${s}&lines=5`))
    const res = await fetch(`http://127.0.0.1:${g.port}/v1/read?source=${s}&max=65536`,
      { headers: { authorization: `Bearer ${TOKEN}` } })
    parts.push(res.headers.get('logfs-next'), (await res.arrayBuffer()).byteLength)
  }
  parts.push(await get(g.port, `/v1/grep?q=needle&source=${encodeURIComponent(GREPPED)}&limit=5`))
  return { answers: JSON.stringify(parts), ms: Date.now() - t0 }
}

async function coldStart (args: string[], snapshot: boolean, expected: string, held = ''): Promise<ColdStart> {
  const t0 = Date.now()
  const g = await gateway(held === '' ? args : [...args, '--index-entries', held])
  const listenMs = Date.now() - t0
  await get(g.port, '/v1/sources')
  const sourcesMs = Date.now() - t0
  const rssStart = await metric(g, 'process_resident_memory_bytes')
  const releasedAtStart = await metric(g, 'logfs_jetstream_index_released_sources')
  const round = await queryRound(g)
  const result = {
    snapshot,
    held,
    releasedAtStart,
    pagesFetched: await metric(g, 'logfs_jetstream_index_pages_fetched_total'),
    listenMs,
    sourcesMs,
    loadedMessages: await metric(g, 'logfs_jetstream_snapshot_loaded_messages'),
    replayedMessages: await metric(g, 'logfs_jetstream_replayed_messages_total'),
    rssStartMiB: mib(rssStart),
    rssQueriedMiB: mib(await metric(g, 'process_resident_memory_bytes')),
    queryRoundMs: round.ms,
    same: round.answers === expected,
  }
  await stop(g)
  return result
}

async function main (): Promise<void> {
  // Three copies of every byte on this machine's disk, with room for the index bucket and the stream's overhead.
  const nats = await NatsCluster.start(3, { maxFileStore: `${Math.ceil(SIZE_MB * 1.5 / 1000) + 1}G` })
  const base = ['--store', nats.url, '--replicas', '3', '--retention-size', `${SIZE_MB * 2}MiB`]
  try {
    const first = await gateway([...base, '--index-snapshot', '0'])
    await get(first.port, '/v1/sources')
    const rssIdle = await metric(first, 'process_resident_memory_bytes')
    process.stderr.write(`bench: filling the cluster with ${SIZE_MB} MB in ${MESSAGE_BYTES}-byte messages\n`)
    const f0 = Date.now()
    const messages = await fill(first)
    const fillS = (Date.now() - f0) / 1000
    const expected = (await queryRound(first)).answers

    process.stderr.write('bench: a fresh gateway, no snapshot in the cluster\n')
    const without = await coldStart([...base, '--index-snapshot', '0'], false, expected)
    process.stderr.write('bench: a gateway writes the snapshot\n')
    const w0 = Date.now()
    const writer = await gateway(base)
    await until(async () => (await metric(writer, 'logfs_jetstream_snapshots_written_total')) >= 1 || undefined,
      'a snapshot', 600_000)
    const writeS = (Date.now() - w0) / 1000
    await stop(writer)
    const nc = await connect({ servers: nats.url.replace('nats://', '').split(',') })
    const snapshotBytes = (await (await new Objm(nc).open(INDEX_BUCKET)).info('LOGFS_cold'))?.size ?? NaN
    await nc.close()
    process.stderr.write('bench: a fresh gateway, with the snapshot\n')
    const withSnapshot = await coldStart(base, true, expected)
    process.stderr.write('bench: a fresh gateway, with the snapshot, --index-entries 0\n')
    const releasing = await coldStart(base, true, expected, '0')
    await stop(first)

    const rows = [without, withSnapshot, releasing]
    const indexBytesPerMessage = Math.round((without.rssStartMiB * 2 ** 20 - rssIdle) / messages)
    if (JSON_OUT) {
      process.stdout.write(JSON.stringify({ machine: machineLine(), messages, sizeMB: SIZE_MB, fillS, writeS,
        snapshotBytes, rssIdleMiB: mib(rssIdle), indexBytesPerMessage, rows }) + '\n')
      return
    }
    const text = `logfs cold start of a gateway: ${messages} messages of ${MESSAGE_BYTES} bytes (${SIZE_MB} MB) ` +
      `in one tenant stream, ${SENDERS * FILES} sources, 3-node JetStream cluster (R3)\n` +
      `${machineLine()}\nEverything (3 nats-servers, the gateways, the load) shares this machine. Filled in ` +
      `${fillS.toFixed(0)} s; a gateway that read the stream wrote its snapshot (${snapshotBytes} bytes) ` +
      `${writeS.toFixed(0)} s after it was started.\n\n` +
      '| index snapshot | --index-entries | listened ms | answered /v1/sources ms | messages loaded | ' +
      'messages replayed | sources released | RSS then MiB | query round ms | pages fetched | RSS after MiB | ' +
      'answers = first gateway |\n' +
      '|---|---|---|---|---|---|---|---|---|---|---|---|\n' +
      rows.map(r => `| ${r.snapshot ? 'yes' : 'no'} | ${r.held || 'default'} | ${r.listenMs} | ${r.sourcesMs} | ` +
        `${r.loadedMessages} | ${r.replayedMessages} | ${r.releasedAtStart} | ${r.rssStartMiB} | ${r.queryRoundMs} | ` +
        `${r.pagesFetched} | ${r.rssQueriedMiB} | ${r.same} |`)
        .join('\n') + '\n\n' +
      `An idle gateway: RSS ${mib(rssIdle)} MiB. The index costs about ${indexBytesPerMessage} bytes of RSS per ` +
      'message (the gateway that read every header less an idle one, over the messages).\n'
    process.stdout.write('\n' + text)
    saveResults('coldstart', text)
  } finally {
    await nats.stop()
  }
}

main().catch(fail)
