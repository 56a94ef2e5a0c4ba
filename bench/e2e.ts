// End-to-end benchmark: a real server and a real mount, writers in their own processes, 200-byte lines.
// Measures what the application sees (write latency, writes/s) and what the pipeline delivers (lines/s and
// MB/s until the last byte is durable on the server), plus the agent's peak RSS and CPU time.
//   npm run bench            (full: 100k lines per writer)
//   npm run bench -- --quick (20k lines per writer)
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { ROOT, fail, machine, start, storedBytes, until } from './harness'

const quick = process.argv.includes('--quick')
const LINES = quick ? 20_000 : 100_000
const SIZE = 200
const WRITERS = [1, 4]

interface WriterOut { lines: number, bytes: number, seconds: number, p50us: number, p99us: number, p999us: number }
interface Row {
  writers: number, lines: number, appWritesPerSec: number, e2eSeconds: number, e2eLinesPerSec: number, e2eMBps: number,
  p50us: number, p99us: number, p999us: number, agentPeakRssMiB: number, agentCpuSeconds: number
}

function procStat (pid: number): { peakRssKiB: number, cpuSeconds: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
  const peakRssKiB = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0)
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  const ticks = Number(fields[11]) + Number(fields[12])
  return { peakRssKiB, cpuSeconds: ticks / 100 }
}

async function runCase (writers: number): Promise<Row> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'logfs-bench-'))
  const mnt = path.join(tmp, 'mnt')
  fs.mkdirSync(mnt)
  const server = start(['server', '--json', '--data-dir', path.join(tmp, 'data'), '--listen', '127.0.0.1:0'])
  const port = (await until(() => server.events.find(e => e.event === 'listening'), 'server')).port as number
  const agent = start(['mount', mnt, '--server', `ws://127.0.0.1:${port}`, '--json', '--node', 'bench', '--state-dir', tmp])
  await until(() => agent.events.find(e => e.event === 'mounted'), 'mount')
  fs.mkdirSync(path.join(mnt, 'bench'))
  const cpu0 = procStat(agent.proc.pid!).cpuSeconds
  const total = writers * LINES * SIZE
  const t0 = process.hrtime.bigint()
  const outs = await Promise.all(Array.from({ length: writers }, (_, i) => new Promise<WriterOut>((resolve, reject) => {
    const w = spawn(process.execPath, [path.join(__dirname, 'writer.js'), path.join(mnt, `bench/w${i}.log`), String(LINES), String(SIZE)], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    w.stdout.on('data', (c: Buffer) => { out += c.toString() })
    w.once('exit', code => code === 0 ? resolve(JSON.parse(out) as WriterOut) : reject(new Error(`writer exited ${code}`)))
  })))
  let lastNote = 0
  await until(async () => {
    const n = await storedBytes(port)
    if (Date.now() - lastNote > 1000) { lastNote = Date.now(); process.stderr.write(`  ${writers} writer(s): ${(100 * n / total).toFixed(0)}% durable\r`) }
    return n >= total ? n : undefined
  }, 'delivery')
  const e2eSeconds = Number(process.hrtime.bigint() - t0) / 1e9
  const { peakRssKiB, cpuSeconds } = procStat(agent.proc.pid!)
  agent.proc.kill('SIGTERM')
  await agent.exited
  server.proc.kill('SIGTERM')
  await server.exited
  fs.rmSync(tmp, { recursive: true, force: true })
  const lines = writers * LINES
  const writeSeconds = Math.max(...outs.map(o => o.seconds))
  const worst = (k: 'p50us' | 'p99us' | 'p999us'): number => Math.max(...outs.map(o => o[k]))
  return {
    writers, lines,
    appWritesPerSec: Math.round(lines / writeSeconds),
    e2eSeconds: Number(e2eSeconds.toFixed(2)),
    e2eLinesPerSec: Math.round(lines / e2eSeconds),
    e2eMBps: Number((total / e2eSeconds / 1e6).toFixed(2)),
    p50us: Math.round(worst('p50us')), p99us: Math.round(worst('p99us')), p999us: Math.round(worst('p999us')),
    agentPeakRssMiB: Number((peakRssKiB / 1024).toFixed(1)),
    agentCpuSeconds: Number((cpuSeconds - cpu0).toFixed(2)),
  }
}

async function main (): Promise<void> {
  const rows: Row[] = []
  for (const w of WRITERS) {
    process.stderr.write(`bench: ${w} writer(s) x ${LINES} lines of ${SIZE} bytes\n`)
    rows.push(await runCase(w))
  }
  const m = machine()
  const head = '| writers | lines | app writes/s | e2e lines/s | e2e MB/s | write p50 µs | p99 µs | p99.9 µs | agent peak RSS MiB | agent CPU s |'
  const table = [head, head.replace(/[^|]/g, '-'),
    ...rows.map(r => `| ${r.writers} | ${r.lines} | ${r.appWritesPerSec} | ${r.e2eLinesPerSec} | ${r.e2eMBps} | ${r.p50us} | ${r.p99us} | ${r.p999us} | ${r.agentPeakRssMiB} | ${r.agentCpuSeconds} |`)].join('\n')
  const text = `logfs end-to-end, ${SIZE}-byte lines, one write() per line, until durable on the server\n` +
    `machine: ${m.cores} cores (${m.cpu}), ${m.memGiB} GiB, Linux ${m.kernel}, Node ${m.node}\n\n${table}\n`
  process.stdout.write('\n' + text)
  const dir = path.join(ROOT, 'bench/results')
  fs.mkdirSync(dir, { recursive: true })
  const stamp = new Date().toISOString().replace(/[:.]/g, '-')
  fs.writeFileSync(path.join(dir, `e2e-${stamp}.json`), JSON.stringify({ machine: m, quick, rows }, null, 2) + '\n')
  fs.writeFileSync(path.join(dir, `e2e-${stamp}.md`), text)
}

main().catch(fail)
