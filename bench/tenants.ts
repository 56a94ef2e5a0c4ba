// Tenant isolation: `npm run bench:tenants` (about 4 minutes; `-- --seconds N`, `-- --rounds N` (3) for medians of
// interleaved rounds, `-- --json`). One mount, two tenants: `quiet` writes 200-byte lines at 1k lines/s from one
// writer while `flood` writes as fast as four writers can (64 KiB writes of 200-byte lines), in three scenarios run
// side by side:
//   alone      quiet by itself: its delivery latency is the reference;
//   flood      quiet next to the flood, no limits: the noisy neighbour;
//   throttled  the same with `flood` limited to 1 MiB/s (burst 2 MiB) by `--limits`.
// Delivery is durable on the server (its follow stream) minus the time written into the line. Printed per scenario:
// quiet's delivery p50/p99 and p99 against alone, over the whole run and over the lines written after the flood's
// first SETTLE_MS; flood's stored MB/s over the run and, throttled, after its burst; and lines or bytes lost (block
// policy: both must be 0). The throttled flood is unthrottled at first by design: its burst passes, and its writers
// fill its ring at memory speed until the ring is full (about half a second here). For that while the quiet
// tenant sits beside an unlimited flood, and those lines alone set the whole run's p99 (1 % of the lines is 100).
// Last, the share of both cores busy during the run (all processes): what the scenario left to spare.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { busyShare, cleanUp, cpuTimes, fail, get, machineLine, scratch, start, until, saveResults } from './harness'
import { Collector } from './collector'
import { follow } from './follow'
import { finish, startWriter, written, type Writer } from './measure'
import { killTree } from './proctree'

const arg = (flag: string, def: number): number => {
  const i = process.argv.indexOf(flag)
  return i > 0 ? Number(process.argv[i + 1]) : def
}
const SECONDS = arg('--seconds', 10)
const ROUNDS = arg('--rounds', 3)
const QUIET_RATE = 1000
const FLOOD_WRITERS = 4
const LIMIT = 1024 * 1024
const BURST = 2 * 1024 * 1024
/** Throttled: the flood's stored rate is taken from this long after the start, past its burst and its ring. */
const SETTLE_MS = 3000

type Scenario = 'alone' | 'flood' | 'throttled'
const SCENARIOS: Scenario[] = ['alone', 'flood', 'throttled']

interface Result {
  scenario: Scenario
  quietP50ms: number
  quietP99ms: number
  /** p99 of the quiet lines written after SETTLE_MS: past the flood's burst and its ring filling. */
  quietSettledP99ms: number
  quietLost: number
  quietDuplicated: number
  /** Flood bytes stored per second over the quiet writer's run. */
  floodMBps: number | null
  /** Throttled: flood bytes stored per second after SETTLE_MS. */
  floodAfterBurstMBps: number | null
  floodLostBytes: number | null
  /** The share of both cores busy over the quiet writer's run (%): all processes, the writers' included. */
  cpuBusy: number
}

interface TenantRow { tenant: string, stored: { bytes: number } }

async function tenantBytes (port: number, tenant: string): Promise<number> {
  const { tenants } = await get(port, '/v1/tenants') as { tenants: TenantRow[] }
  return tenants.find(t => t.tenant === tenant)?.stored.bytes ?? 0
}

async function run (scenario: Scenario, round: number): Promise<Result> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'logfs-tenants-'))
  scratch.add(tmp)
  const limitsFile = path.join(tmp, 'limits.json')
  const limited = { tenants: { flood: { ingest: `${LIMIT}/s`, burst: String(BURST) } } }
  fs.writeFileSync(limitsFile, JSON.stringify(scenario === 'throttled' ? limited : {}))
  const server = start(['server', '--json', '--data-dir', path.join(tmp, 'data'), '--listen', '127.0.0.1:0',
    '--limits', limitsFile])
  const port = (await until(() => server.events.find(e => e.event === 'listening'), 'server', 30_000)).port as number
  const mnt = path.join(tmp, 'mnt')
  fs.mkdirSync(mnt)
  const agent = start(['mount', mnt, '--server', `ws://127.0.0.1:${port}`, '--json', '--node', 'bench',
    '--state-dir', tmp])
  await until(() => agent.events.find(e => e.event === 'mounted'), 'mount', 30_000)
  for (const t of ['quiet', 'flood']) fs.mkdirSync(path.join(mnt, t))
  const quietLines = QUIET_RATE * SECONDS
  const collector = new Collector(1, quietLines)
  const unfollow = await follow(port, collector, 'bench/quiet/**')
  process.stderr.write(`bench: round ${round}, ${scenario}\n`)

  const flood: Writer[] = scenario === 'alone' ? [] : Array.from({ length: FLOOD_WRITERS }, (_, w) => startWriter({
    file: path.join(mnt, 'flood', `f${w}.log`), writer: w, lines: 1e8, size: 200, buffered: true, rate: 0,
  }))
  // They are killed at the end, so they never report: what they wrote is read from /proc (written()).
  for (const w of flood) w.result.catch(() => {})
  const started = Date.now()
  const cpuAtStart = cpuTimes()
  const quiet = startWriter({
    file: path.join(mnt, 'quiet', 'q.log'), writer: 0, lines: quietLines, size: 200, buffered: false,
    rate: QUIET_RATE,
  })
  // Throttled: when the flood's stored bytes changed, after SETTLE_MS. The rate is taken between the first and the
  // last change, so that it counts whole batches over the time they took (not a batch more or less in the window).
  // Sampled 4 times a second: polling the server faster shows up in the quiet tenant's latency it measures.
  const changes: Array<{ at: number, bytes: number }> = []
  const sampler = setInterval(() => {
    if (scenario !== 'throttled' || Date.now() - started < SETTLE_MS) return
    void tenantBytes(port, 'flood').then(bytes => {
      if (changes.length === 0 || changes[changes.length - 1].bytes !== bytes) changes.push({ at: Date.now(), bytes })
    })
  }, 250)
  await finish([quiet])
  const ended = Date.now()
  const cpuBusy = busyShare(cpuAtStart, cpuTimes())
  clearInterval(sampler)
  const floodAtEnd = flood.length ? await tenantBytes(port, 'flood') : 0
  await collector.done(60_000)
  unfollow()
  // The flood's writers are ended (a write waiting for ring space ends with them); what they wrote must all arrive.
  for (const w of flood) killTree(w.proc.pid!)
  await Promise.all(flood.map(w => new Promise(resolve => w.proc.once('close', resolve))))
  const floodWritten = written(flood)
  let floodLostBytes: number | null = null
  if (flood.length) {
    // Raised, so the flood's backlog drains in seconds rather than at its limit.
    fs.writeFileSync(limitsFile, '{}')
    const stored = await until(async () => {
      const b = await tenantBytes(port, 'flood')
      return b >= floodWritten ? b : undefined
    }, 'the flood stored', 120_000).catch(() => tenantBytes(port, 'flood'))
    floodLostBytes = Math.max(0, floodWritten - stored)
  }
  agent.proc.kill('SIGTERM')
  await agent.exited
  server.proc.kill('SIGTERM')
  await server.exited
  scratch.delete(tmp)
  fs.rmSync(tmp, { recursive: true, force: true })
  const mbps = (bytes: number, ms: number): number => Math.round(bytes / ms * 1000 / 1e6 * 100) / 100
  const [first, last] = [changes[0], changes[changes.length - 1]]
  return {
    scenario,
    quietP50ms: Math.round(collector.quantileMs(0.5) * 100) / 100,
    quietP99ms: Math.round(collector.quantileMs(0.99) * 100) / 100,
    quietSettledP99ms: Math.round(collector.quantileMs(0.99, started + SETTLE_MS) * 100) / 100,
    quietLost: collector.expected - collector.distinct,
    quietDuplicated: collector.duplicates,
    floodMBps: flood.length ? mbps(floodAtEnd, ended - started) : null,
    floodAfterBurstMBps: changes.length > 2 ? mbps(last.bytes - first.bytes, last.at - first.at) : null,
    floodLostBytes,
    cpuBusy,
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor((s.length - 1) / 2)]
}

function merged (rs: Result[]): Result {
  const m = (f: (r: Result) => number | null): number | null =>
    rs.every(r => f(r) === null) ? null : median(rs.map(f).filter((v): v is number => v !== null))
  return {
    scenario: rs[0].scenario,
    quietP50ms: m(r => r.quietP50ms)!,
    quietP99ms: m(r => r.quietP99ms)!,
    quietSettledP99ms: m(r => r.quietSettledP99ms)!,
    quietLost: Math.max(...rs.map(r => r.quietLost)),
    quietDuplicated: Math.max(...rs.map(r => r.quietDuplicated)),
    floodMBps: m(r => r.floodMBps),
    floodAfterBurstMBps: m(r => r.floodAfterBurstMBps),
    floodLostBytes: m(r => r.floodLostBytes),
    cpuBusy: m(r => r.cpuBusy)!,
  }
}

async function main (): Promise<void> {
  const startLine = machineLine()
  const all: Result[] = []
  for (let round = 1; round <= ROUNDS; round++) for (const s of SCENARIOS) all.push(await run(s, round))
  const rows = SCENARIOS.map(s => merged(all.filter(r => r.scenario === s)))
  if (process.argv.includes('--json')) {
    process.stdout.write(JSON.stringify({ rows, rounds: all }) + '\n')
    return
  }
  const alone = rows[0]
  const ratio = (v: number, of: number): number => Math.round(v / of * 100) / 100
  const show = (v: number | null): string => v === null ? '–' : String(v)
  const limitMBps = Math.round(LIMIT / 1e6 * 100) / 100
  const text = `logfs tenant isolation: quiet at ${QUIET_RATE} lines/s for ${SECONDS} s beside a flood of ` +
    `${FLOOD_WRITERS} writers (64 KiB writes); throttled: flood limited to 1 MiB/s = ${limitMBps} MB/s, burst ` +
    `2 MiB; ${ROUNDS > 1 ? `medians of ${ROUNDS} interleaved rounds` : 'one round'}\n${startLine}\n\n` +
    `| scenario | quiet delivery p50 ms | p99 ms | p99 × alone | p99 ms after ${SETTLE_MS / 1000} s | × alone | ` +
    'flood stored MB/s | flood MB/s after burst | quiet lines lost / dup | flood bytes lost | CPU busy % |\n' +
    '|---|---|---|---|---|---|---|---|---|---|---|\n' +
    rows.map(r => `| ${r.scenario} | ${r.quietP50ms} | ${r.quietP99ms} | ${ratio(r.quietP99ms, alone.quietP99ms)} | ` +
      `${r.quietSettledP99ms} | ${ratio(r.quietSettledP99ms, alone.quietSettledP99ms)} | ` +
      `${show(r.floodMBps)} | ${show(r.floodAfterBurstMBps)} | ` +
      `${r.quietLost} / ${r.quietDuplicated} | ${show(r.floodLostBytes)} | ${r.cpuBusy} |`).join('\n') + '\n'
  process.stdout.write('\n' + text)
  saveResults('tenants', text)
  cleanUp()
}

main().catch(fail)
