// Scale-out: `npm run bench:scaleout` (about 13 minutes; `-- --seconds N` per phase, `-- --rounds N`, `-- --json`,
// `-- --filters`: the token filters' cost to ingest only, both rows at once, about 8 minutes).
// In one run, side by side: the embedded store (one `logfs server`), one gateway over a 3-node JetStream cluster
// (R3), the same without token filters (`--no-token-filters`: the ingest they cost), and two gateways over such a
// cluster with the load split between them (a new cluster for each JetStream row). Each target takes, from this
// process:
// - a closed loop (SENDERS agent connections, one 256 KiB batch in flight each) for the ingest ceiling in MB/s;
// - a fixed offered load (RATE_MBS in 64 KiB batches) for the acknowledgement latency an agent sees (p50, p99),
//   which is when the batch is durable (embedded: fsync) or on a Raft majority (JetStream: PubAck).
// Both with 1 tenant stream and with 4 (JetStream scales by streams: each has its own Raft leader). All servers, the
// cluster and the load share this machine's cores: the ratios say what one machine gives, not what a cluster of
// machines gives; docs/benchmarks.md projects that from the per-stream figures. Rounds interleave the targets; every
// row is warmed (WARM_SECONDS) and starts after a `sync`, the embedded store's data is deleted after its row, and
// the rows with and without token filters end each round, taking turns to come first; their ratio is printed per
// round too.
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fail, machineLine, start, until, type Started, saveResults } from './harness'
import { NatsCluster } from './natscluster'
import { BATCH, RATE_BATCH, RATE_MBS, SENDERS, counter, cpuSeconds, load, type Phase } from './ingestload'

const secondsArg = process.argv.indexOf('--seconds')
const SECONDS = secondsArg > 0 ? Number(process.argv[secondsArg + 1]) : 8
const roundsArg = process.argv.indexOf('--rounds')
/**
 * `--filters`: only the two one-gateway rows, with and without token filters, run at the same time, each over a
 * cluster of its own with a load of its own, 6 rounds unless `--rounds` says, no steady phase. Whatever else takes
 * the cores during those seconds takes from both, so their ratio holds where one after the other it moved by ±15 %
 * from one round to the next; each gets about half the machine.
 */
const FILTERS_ONLY = process.argv.includes('--filters')
/** Rounds of every row, interleaved; each figure printed is the median over them (this machine is noisy). */
const ROUNDS = roundsArg > 0 ? Number(process.argv[roundsArg + 1]) : FILTERS_ONLY ? 6 : 3
const JSON_OUT = process.argv.includes('--json')
/**
 * Every row is warmed before it is measured: a closed loop this long makes the tenant streams (and, with token
 * filters, their buckets: R3 streams of their own, whose creation and leader elections take the cluster a second
 * or more on these cores) and warms the processes' JIT. The load then stops for SETTLE_MS, past the filter
 * builder's idle cut, so that a builder starts the measured phase with nothing pending, as in a cluster that has
 * been running. What is measured is steady ingest, not making streams.
 */
const WARM_SECONDS = 2
const SETTLE_MS = 6000

interface Result {
  target: string
  streams: number
  /** The round of a sample; a median over rounds has none. */
  round?: number
  ceiling: Phase
  /** None with `--filters`. */
  steady?: Phase
  conflicts: number
  retries: number
  /** CPU the logfs servers spent per MB taken in the closed loop, in ms. */
  serverCpuMsPerMB: number
  /** CPU the three nats-servers spent per MB taken in the closed loop, in ms (0 for the embedded store). */
  natsCpuMsPerMB: number
  /** Log bytes the gateways fetched back from the cluster in both phases (the filter builder's misses), in MB. */
  fetchedMB: number
}

/** A gateway started over what the cluster already holds: until it answered, and how much it indexed. */
interface ColdStart { ms: number, messages: number, megabytes: number }

/** One target's servers (their ingest URLs and HTTP ports), started; `stop` ends them. */
interface Target {
  name: string
  urls: string[]
  ports: number[]
  pids: number[]
  stop: () => Promise<void>
  /** Its gateways build token filters: the settle waits until they cover what the warm-up wrote. */
  filters?: boolean
  /** The JetStream cluster it runs over, stopped after its row (and the cold start). */
  cluster?: NatsCluster
  coldStart?: () => Promise<ColdStart>
}

interface Server { p: Started, url: string, port: number }

async function server (args: string[]): Promise<Server> {
  const p = start(['server', '--json', '--listen', '127.0.0.1:0', ...args])
  const port = (await until(() => p.events.find(e => e.event === 'listening'), 'server', 60_000)).port as number
  return { p, url: `ws://127.0.0.1:${port}/v1/ingest`, port }
}

async function stopAll (ps: Started[]): Promise<void> {
  for (const p of ps) p.proc.kill('SIGTERM')
  await Promise.all(ps.map(p => p.exited))
}

/** One warmed row: its closed loop and (but with `--filters`) its steady phase; its servers stopped after. */
async function measure (target: Target, streams: number, round: number, tag: string): Promise<Result> {
  const what = `bench: round ${round}/${ROUNDS}: ${target.name}, ${streams} stream(s)`
  process.stderr.write(`${what}: closed loop for ${SECONDS} s\n`)
  const natsPids = target.cluster?.nodes.map(n => n.proc!.pid!) ?? []
  const cpu0 = [cpuSeconds(target.pids), cpuSeconds(natsPids)]
  const ceiling = await load(target.urls, streams, `${tag}s${streams}c`, null, SECONDS)
  const megabytes = ceiling.mbs * SECONDS
  const serverCpuMsPerMB = Number(((cpuSeconds(target.pids) - cpu0[0]) * 1000 / megabytes).toFixed(2))
  const natsCpuMsPerMB = Number(((cpuSeconds(natsPids) - cpu0[1]) * 1000 / megabytes).toFixed(2))
  if (!FILTERS_ONLY) process.stderr.write(`${what}: ${RATE_MBS} MB/s for ${SECONDS} s\n`)
  const steady = FILTERS_ONLY ? undefined : await load(target.urls, streams, `${tag}s${streams}s`, RATE_MBS, SECONDS)
  const conflicts = await counter(target.ports, 'logfs_jetstream_conflicts_total')
  const retries = await counter(target.ports, 'logfs_jetstream_publish_retries_total')
  const fetchedMB = Math.round(await counter(target.ports, 'logfs_jetstream_fetched_bytes_total') / 1e6)
  await target.stop()
  return {
    target: target.name, streams, round, ceiling, steady, conflicts, retries, serverCpuMsPerMB, natsCpuMsPerMB,
    fetchedMB,
  }
}

/** The warm-up and settle before a row's measured phases (WARM_SECONDS). */
async function warm (target: Target, streams: number, tag: string): Promise<void> {
  await load(target.urls, streams, `${tag}s${streams}w`, null, WARM_SECONDS)
  await new Promise(resolve => setTimeout(resolve, SETTLE_MS))
  if (target.filters === true) {
    // Every gateway lists every stream and knows every group: the sums compare like with like.
    await until(async () => {
      const covered = await counter(target.ports, 'logfs_jetstream_filtered_bytes') >=
        await counter(target.ports, 'logfs_jetstream_bytes')
      if (!covered) await new Promise(resolve => setTimeout(resolve, 500))
      return covered ? true : undefined
    }, 'token filters over the warm-up', 30_000)
  }
  // What earlier rows (and the warm-up) wrote goes to the disk before this one is measured, not under it; here
  // rather than in `measure`, so that two rows measured at once both start after it.
  execFileSync('sync')
}

function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

/** Per target and stream count, the median of each figure over the rounds (counters: their sum). */
function medians (samples: Result[]): Result[] {
  const groups = new Map<string, Result[]>()
  for (const r of samples) {
    const k = `${r.target}\n${r.streams}`
    groups.set(k, [...(groups.get(k) ?? []), r])
  }
  const phase = (ps: Phase[]): Phase => ({
    mbs: median(ps.map(p => p.mbs)),
    p50ms: median(ps.map(p => p.p50ms)),
    p99ms: median(ps.map(p => p.p99ms)),
    batches: median(ps.map(p => p.batches)),
    nacks: ps.reduce((n, p) => n + p.nacks, 0),
  })
  return [...groups.values()].map(rs => ({
    target: rs[0].target,
    streams: rs[0].streams,
    ceiling: phase(rs.map(r => r.ceiling)),
    steady: rs[0].steady === undefined ? undefined : phase(rs.map(r => r.steady!)),
    conflicts: rs.reduce((n, r) => n + r.conflicts, 0),
    serverCpuMsPerMB: median(rs.map(r => r.serverCpuMsPerMB)),
    natsCpuMsPerMB: median(rs.map(r => r.natsCpuMsPerMB)),
    fetchedMB: median(rs.map(r => r.fetchedMB)),
    retries: rs.reduce((n, r) => n + r.retries, 0),
  }))
}

async function main (): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'logfs-scaleout-'))
  // Each JetStream row gets a cluster of its own: streams filled by an earlier row would make this one pay for
  // their retention.
  const clusters = new Set<NatsCluster>()
  const cluster = async (): Promise<{ nats: NatsCluster, args: string[] }> => {
    const nats = await NatsCluster.start(3, { maxFileStore: '8G' })
    clusters.add(nats)
    return { nats, args: ['--store', nats.url, '--replicas', '3', '--retention-size', '1GiB'] }
  }
  const targets: Array<(streams: number) => Promise<Target>> = [
    async (streams) => {
      const dataDir = path.join(tmp, `data-${streams}`)
      const s = await server(['--data-dir', dataDir, '--retention-size', '4GiB'])
      const name = 'embedded store'
      // Its data goes with it: gigabytes left in the page cache would weigh on the rows after it.
      const stop = async (): Promise<void> => {
        await stopAll([s.p])
        fs.rmSync(dataDir, { recursive: true, force: true })
      }
      return { name, urls: [s.url], ports: [s.port], pids: [s.p.proc.pid!], stop }
    },
    ...[[], ['--no-token-filters']].map(flags => async (): Promise<Target> => {
      const { nats, args } = await cluster()
      const g = await server([...args, ...flags])
      const name = `1 gateway, JetStream R3${flags.length > 0 ? ', no token filters' : ''}`
      return {
        name, urls: [g.url], ports: [g.port], pids: [g.p.proc.pid!], stop: () => stopAll([g.p]),
        filters: flags.length === 0, cluster: nats,
      }
    }),
    async () => {
      const { nats, args } = await cluster()
      const [g1, g2] = await Promise.all([server(args), server(args)])
      return {
        name: '2 gateways, JetStream R3',
        urls: [g1.url, g2.url],
        ports: [g1.port, g2.port],
        pids: [g1.p.proc.pid!, g2.p.proc.pid!],
        stop: () => stopAll([g1.p, g2.p]),
        filters: true,
        cluster: nats,
        coldStart: async () => {
          const t0 = Date.now()
          const g3 = await server(args)
          const ms = Date.now() - t0
          const messages = await counter([g3.port], 'logfs_jetstream_messages')
          const megabytes = Math.round(await counter([g3.port], 'logfs_jetstream_bytes') / 1e6)
          await stopAll([g3.p])
          return { ms, messages, megabytes }
        },
      }
    },
  ]
  const stopCluster = async (t: Target): Promise<void> => {
    if (t.cluster === undefined) return
    await t.cluster.stop()
    clusters.delete(t.cluster)
  }
  const samples: Result[] = []
  let cold: ColdStart | null = null
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      // The two one-gateway rows come last, after a JetStream row, and swap places every other round: the row
      // right after the embedded store's shares the disk with the end of its writeback and the freeing of its data.
      const order = FILTERS_ONLY ? [1, 2] : round % 2 === 0 ? [0, 3, 2, 1] : [0, 3, 1, 2]
      for (const streams of [1, 4]) {
        if (FILTERS_ONLY) {
          // Both at once, each over its cluster: whatever else takes the cores in these seconds takes from both.
          const pair = await Promise.all(order.map(i => targets[i](streams)))
          await Promise.all(pair.map((t, k) => warm(t, streams, `${round}r${order[k]}`)))
          samples.push(...await Promise.all(pair.map((t, k) => measure(t, streams, round, `${round}r${order[k]}`))))
          for (const t of pair) await stopCluster(t)
          continue
        }
        for (const i of order) {
          const target = await targets[i](streams)
          await warm(target, streams, `${round}r${i}`)
          samples.push(await measure(target, streams, round, `${round}r${i}`))
          if (target.coldStart && round === ROUNDS && streams === 4) cold = await target.coldStart()
          await stopCluster(target)
        }
      }
    }
  } finally {
    for (const nats of clusters) await nats.stop()
    fs.rmSync(tmp, { recursive: true, force: true })
  }
  const results = medians(samples)
  if (JSON_OUT) {
    process.stdout.write(JSON.stringify({ machine: machineLine(), results, coldStart: cold }) + '\n')
    return
  }
  const base = new Map(results.filter(r => r.target === 'embedded store').map(r => [r.streams, r.ceiling.mbs]))
  const rows = results.map(r => `| ${r.target} | ${r.streams} | ${r.ceiling.mbs} | ` +
    `${base.has(r.streams) ? (r.ceiling.mbs / base.get(r.streams)!).toFixed(2) : '–'} | ${r.ceiling.p50ms} | ` +
    `${r.ceiling.p99ms} | ` +
    `${r.serverCpuMsPerMB} | ${r.natsCpuMsPerMB} | ${r.fetchedMB} | ` +
    `${r.steady?.mbs ?? '–'} | ${r.steady?.p50ms ?? '–'} | ${r.steady?.p99ms ?? '–'} | ${r.conflicts} | ` +
    `${r.retries} | ${r.ceiling.nacks + (r.steady?.nacks ?? 0)} |`)
  const c = cold
  // Ingest with token filters against without, same run, same rounds: the builder reads the stream it indexes.
  const ceilingOf = (target: string, streams: number): number =>
    results.find(r => r.target === target && r.streams === streams)?.ceiling.mbs ?? NaN
  const WITH = '1 gateway, JetStream R3'
  const WITHOUT = '1 gateway, JetStream R3, no token filters'
  const ratio = (a: number, b: number): string => (a / b).toFixed(2)
  // Each round's two rows ran one after the other, in turn first: a round's ratio compares like with like.
  const perRound = (n: number): string => Array.from({ length: ROUNDS }, (_, k) => {
    const of = (target: string): number =>
      samples.find(r => r.target === target && r.streams === n && r.round === k + 1)?.ceiling.mbs ?? NaN
    return ratio(of(WITH), of(WITHOUT))
  }).join(', ')
  const filtersLine = '\nIngest ceiling of one gateway with token filters over without (`--no-token-filters`), ' +
    'medians (each round): ' +
    [1, 4].map(n => `${ratio(ceilingOf(WITH, n), ceilingOf(WITHOUT, n))} (${perRound(n)}) with ${n} stream` +
      (n > 1 ? 's' : '')).join('; ') + '; target ≥ 0.90.\n'
  const coldLine = c === null ? ''
    : `\nA third gateway started over the cluster's ${c.messages} messages (${c.megabytes} MB) listened, its index ` +
      `caught up, after ${c.ms} ms.\n`
  const text = `logfs scale-out: ${SENDERS} agent connections, ${SECONDS} s per phase, median of ${ROUNDS} ` +
    'interleaved rounds (conflicts, retries, nacks: summed); closed loop of ' +
    `${BATCH / 1024} KiB batches` +
    (FILTERS_ONLY ? ' (`--filters`: one gateway, with and without token filters, only)\n'
      : `, then ${RATE_MBS} MB/s offered in ${RATE_BATCH / 1024} KiB batches\n`) +
    `${machineLine()}\n` +
    'Everything (3 nats-servers, the logfs servers, the load) shares this machine.\n\n' +
    '| target | tenant streams | ceiling MB/s | × embedded | ack p50 ms | ack p99 ms | logfs CPU ms/MB | ' +
    'nats CPU ms/MB | fetched back MB | steady MB/s | steady ack p50 ms | steady ack p99 ms | conflicts | retries | ' +
    'nacks |\n' +
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n' + rows.join('\n') + '\n' + filtersLine + coldLine
  process.stdout.write('\n' + text)
  saveResults('scaleout', text)
}

main().catch(fail)
