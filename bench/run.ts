// The comparison benchmark: `npm run bench -- --quick` (a smoke run, under 3 minutes) or `npm run bench` (full).
// Every workload runs against every target on this machine, one after the other; see README "Benchmarks".
// Output: a Markdown table on stdout, and .md, .json and .svg files under bench/results/.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Collector } from './collector'
import { ROOT, children, fail, machine, machineLine, procStat } from './harness'
import { TARGETS, TENANTS, setUp, type TargetName } from './targets'
import type { Row } from './row'
import type { AppResult, AppSpec } from './appwriter'
import { chart } from './chart'

interface Workload {
  name: string
  size: number
  buffered: boolean
  rate: number
  lines: (writers: number) => number
  writers: number[]
}

const quick = process.argv.includes('--quick')
const only = (flag: string): string[] | null => {
  const i = process.argv.indexOf(flag)
  return i > 0 ? process.argv[i + 1].split(',') : null
}

const WORKLOADS: Workload[] = quick
  ? [{ name: '200B lines', size: 200, buffered: false, rate: 0, lines: () => 10_000, writers: [1, 4] }]
  : [
      {
        name: '200B lines', size: 200, buffered: false, rate: 0,
        lines: w => (w === 1 ? 100_000 : w === 4 ? 50_000 : 15_000), writers: [1, 4, 16],
      },
      { name: '200B lines, 64KiB writes', size: 200, buffered: true, rate: 0, lines: () => 250_000, writers: [1, 4] },
      {
        name: '1KiB JSON lines', size: 1024, buffered: false, rate: 0,
        lines: w => (w === 1 ? 50_000 : 20_000), writers: [1, 4],
      },
      { name: '200B lines at 10k/s', size: 200, buffered: false, rate: 10_000, lines: () => 50_000, writers: [1] },
    ]

function runWriter (spec: AppSpec): Promise<AppResult> {
  return new Promise((resolve, reject) => {
    const w = spawn(process.execPath, [path.join(__dirname, 'appwriter.js'), JSON.stringify(spec)],
      { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    w.stdout.on('data', (c: Buffer) => { out += c.toString() })
    w.once('exit', code => code === 0
      ? resolve(JSON.parse(out) as AppResult)
      : reject(new Error(`writer exited ${code}`)))
  })
}

async function runOne (wl: Workload, writers: number, target: TargetName, buildDir: string): Promise<Row> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'logfs-cmp-'))
  const lines = wl.lines(writers)
  const collector = new Collector(writers, lines)
  const t = await setUp(target, { tmp, buildDir, collector })
  try {
    for (const tenant of TENANTS) fs.mkdirSync(path.join(t.dir, tenant), { recursive: true })
    const cpu0 = t.agentPid ? procStat(t.agentPid).cpuSeconds : 0
    const t0 = Date.now()
    const results = await Promise.all(Array.from({ length: writers }, (_, w) => runWriter({
      file: path.join(t.dir, TENANTS[w % TENANTS.length], `w${w}.log`),
      writer: w, lines, size: wl.size, buffered: wl.buffered, rate: wl.rate,
    })))
    const bytes = results.reduce((n, r) => n + r.bytes, 0)
    let complete = false
    if (t.delivers) complete = await collector.done(180_000)
    const agent = t.agentPid ? procStat(t.agentPid) : null
    const wire = await t.wireBytes()
    const writeSeconds = Math.max(...results.map(r => r.seconds))
    const writes = results.reduce((n, r) => n + r.writes, 0)
    const worst = (k: 'p50us' | 'p99us' | 'p999us'): number => Math.round(Math.max(...results.map(r => r[k])) * 10) / 10
    const round = (n: number, d = 2): number => Math.round(n * 10 ** d) / 10 ** d
    const e2eSeconds = (collector.lastArrival - t0) / 1000
    return {
      workload: wl.name, writers, target, lines: lines * writers,
      appWritesPerSec: Math.round(writes / writeSeconds),
      appMBps: round(bytes / writeSeconds / 1e6),
      writeP50us: worst('p50us'), writeP99us: worst('p99us'), writeP999us: worst('p999us'),
      e2eLinesPerSec: t.delivers && complete ? Math.round(collector.expected / e2eSeconds) : null,
      deliveryP50ms: t.delivers ? round(collector.quantileMs(0.5)) : null,
      deliveryP99ms: t.delivers ? round(collector.quantileMs(0.99)) : null,
      agentCpuSecPerGB: agent ? round((agent.cpuSeconds - cpu0) / (bytes / 1e9), 1) : null,
      agentPeakRssMiB: agent ? round(agent.peakRssKiB / 1024, 1) : null,
      wirePerByte: wire !== null ? round(wire / bytes, 3) : null,
      lost: t.delivers ? collector.expected - collector.distinct : null,
      duplicated: t.delivers ? collector.duplicates : null,
    }
  } finally {
    await t.stop()
    fs.rmSync(tmp, { recursive: true, force: true })
  }
}

const show = (v: number | null): string => v === null ? '–' : String(v)

export function table (rows: Row[]): string {
  const head = '| workload | writers | target | app writes/s | app MB/s | write p50 µs | p99 µs | p99.9 µs ' +
    '| e2e lines/s | delivery p50 ms | p99 ms | agent CPU s/GB | agent peak RSS MiB | wire bytes/byte | lost | dup |'
  const line = (r: Row): string =>
    `| ${r.workload} | ${r.writers} | ${r.target} | ${r.appWritesPerSec} | ${r.appMBps} ` +
    `| ${r.writeP50us} | ${r.writeP99us} | ${r.writeP999us} ` +
    `| ${show(r.e2eLinesPerSec)} | ${show(r.deliveryP50ms)} | ${show(r.deliveryP99ms)} ` +
    `| ${show(r.agentCpuSecPerGB)} | ${show(r.agentPeakRssMiB)} | ${show(r.wirePerByte)} ` +
    `| ${show(r.lost)} | ${show(r.duplicated)} |`
  return [head, head.replace(/[^|]+/g, m => '-'.repeat(Math.max(3, m.length))), ...rows.map(line)].join('\n')
}

/** logfs against the C ceiling (writes/s) and against rsyslog (lines per agent CPU second, delivery latency). */
export function ratios (rows: Row[]): string {
  const out = [
    '| workload | writers | logfs ÷ C FUSE, writes/s | logfs ÷ rsyslog, e2e lines per agent CPU s ' +
      '| delivery p50, logfs vs rsyslog |',
    '|---|---|---|---|---|',
  ]
  const groups = new Set(rows.map(r => `${r.workload}\n${r.writers}`))
  for (const g of groups) {
    const [workload, w] = g.split('\n')
    const pick = (t: TargetName): Row | undefined =>
      rows.find(r => r.workload === workload && r.writers === Number(w) && r.target === t)
    const l = pick('logfs')
    const c = pick('c-fuse')
    const r = pick('rsyslog')
    if (!l) continue
    // Same lines and bytes on both sides, so lines per CPU second compare as the inverse of CPU seconds per GB.
    const perCpu = l.agentCpuSecPerGB && r?.agentCpuSecPerGB
      ? (r.agentCpuSecPerGB / l.agentCpuSecPerGB).toFixed(2)
      : '–'
    const perWrite = c ? (l.appWritesPerSec / c.appWritesPerSec).toFixed(2) : '–'
    const delivery = `${l.deliveryP50ms ?? '–'} ms vs ${r?.deliveryP50ms ?? '–'} ms`
    out.push(`| ${workload} | ${w} | ${perWrite} | ${perCpu} | ${delivery} |`)
  }
  return out.join('\n')
}

async function main (): Promise<void> {
  const targets = (only('--targets') as TargetName[] | null) ?? TARGETS
  const buildDir = fs.mkdtempSync(path.join(os.tmpdir(), 'logfs-cmp-build-'))
  const plan = WORKLOADS.flatMap(wl => wl.writers.flatMap(w => targets.map(t => ({ wl, w, t }))))
  const rows: Row[] = []
  const started = Date.now()
  for (const [i, { wl, w, t }] of plan.entries()) {
    const elapsed = Math.round((Date.now() - started) / 1000)
    process.stderr.write(`bench [${i + 1}/${plan.length}, ${elapsed} s] ${wl.name} x${w} -> ${t}\n`)
    const row = await runOne(wl, w, t, buildDir)
    if (row.lost || row.duplicated) {
      process.stderr.write(`bench: ${t} lost ${row.lost} and duplicated ${row.duplicated} lines\n`)
    }
    rows.push(row)
  }
  fs.rmSync(buildDir, { recursive: true, force: true })
  const m = machine()
  const text = `logfs comparison (${quick ? 'quick' : 'full'}), ${new Date().toISOString()}\n${machineLine()}\n` +
    'Same machine, one run after another. e2e and delivery: until the line is durable on the logfs server, ' +
    'acknowledged by the discarding sink (logfs-mount), or received over TCP (rsyslog). ' +
    'Agent: the logfs agent, the C filesystem, or rsyslogd.\n\n' +
    `${table(rows)}\n\n${ratios(rows)}\n`
  process.stdout.write('\n' + text)
  const dir = path.join(ROOT, 'bench/results')
  fs.mkdirSync(dir, { recursive: true })
  const stamp = new Date().toISOString().replace(/[:.]/g, '-')
  fs.writeFileSync(path.join(dir, `compare-${stamp}.md`), text)
  fs.writeFileSync(path.join(dir, `compare-${stamp}.json`), JSON.stringify({ machine: m, quick, rows }, null, 2) + '\n')
  fs.writeFileSync(path.join(dir, `compare-${stamp}.svg`), chart(rows, machineLine()))
  const seconds = Math.round((Date.now() - started) / 1000)
  process.stderr.write(`bench: results in bench/results/compare-${stamp}.{md,json,svg} (${seconds} s)\n`)
  if (rows.some(r => r.lost || r.duplicated)) process.exitCode = 1
}

if (require.main === module) {
  main().catch(err => { for (const c of children) c.kill('SIGKILL'); fail(err) })
}
