// Ingest during queries: `npm run bench:stall` (200 MB store) or `-- --size 50MB`. Fills a real `logfs server`
// through its WebSocket ingest (tenant prod), then, phase by phase, sends one small batch at a time of another
// tenant (quiet; 5 ms after the previous ack, as an agent keeps one batch in flight per tenant) and times its ack,
// first idle and then while full-scan greps of prod run. A grep that holds the server's event loop shows as ack
// p99/max far above idle and as fewer acks. The server exposes no event-loop delay metric, so the ack latency,
// what agents see, is the measure. `-- --against DIR` runs the same phases first against the build in DIR (a
// worktree of main, built), then against this one, and prints both tables.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import type { WireRecord } from '../lib/wire/frames'
import { parseSize } from '../lib/util/units'
import { fail, get, machine, machineLine, start, storedBytes, until, saveResults } from './harness'
import { AckProbe, Ingest, pct } from './ackprobe'

const sizeArg = process.argv.indexOf('--size')
const TOTAL = sizeArg > 0 ? parseSize(process.argv[sizeArg + 1], '--size') : 200e6
const TENANT = 'prod'
/** The probe's tenant: the ingest whose latency another tenant's scans must not raise. */
const QUIET = 'quiet'
const againstArg = process.argv.indexOf('--against')
const AGAINST = againstArg > 0 ? path.resolve(process.argv[againstArg + 1]) : null
const SOURCES = 4
const LINES_PER_RECORD = 400
/** Fill batches in flight at once: enough to keep the server's fsyncs back to back. */
const FILL_WINDOW = 8
const PROBE_GAP_MS = 5
/** Each phase lasts at least this long, so every row has a few hundred acks behind its p99. */
const PHASE_MS = 5000
const MIN_GREP_RUNS = 3
/** Quiet time before each phase, so the previous phase's garbage collection is not charged to it. */
const SETTLE_MS = 300

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

/** JSON lines in SOURCES sources, LINES_PER_RECORD lines per record, each line containing "GET". */
async function fill (link: Ingest, total: number): Promise<{ bytes: number, lines: number }> {
  const offsets = new Array<number>(SOURCES).fill(0)
  let bytes = 0
  let line = 0
  let reported = Date.now()
  const t0 = Date.now()
  const batch = (): WireRecord[] => {
    const recs: WireRecord[] = []
    for (let s = 0; s < SOURCES; s++) {
      const lines: string[] = []
      for (let k = 0; k < LINES_PER_RECORD; k++, line++) {
        lines.push(`{"level":"info","msg":"GET /api/items/${line} 200 in ${line % 97}ms",` +
          `"user":"u${line % 1000}","trace":"t${line}"}`)
      }
      const data = Buffer.from(lines.join('\n') + '\n')
      recs.push([`${TENANT}/app${s}.log`, offsets[s], Date.now(), data])
      offsets[s] += data.length
      bytes += data.length
    }
    return recs
  }
  // Lanes, each waiting for its own ack, keep FILL_WINDOW batches in flight; the server stores them in the
  // order they arrive, so the offsets need no coordination beyond the shared counters.
  const lane = async (): Promise<void> => {
    while (bytes < total) {
      await link.send('fill', batch(), TENANT)
      if (Date.now() - reported > 2000) {
        reported = Date.now()
        const mbs = bytes / 1e6 / ((Date.now() - t0) / 1000)
        process.stderr.write(`  ${(100 * bytes / total).toFixed(0)}% filled (${mbs.toFixed(0)} MB/s)\n`)
      }
    }
  }
  await Promise.all(Array.from({ length: FILL_WINDOW }, lane))
  return { bytes, lines: line }
}

interface GrepRun { ms: number, hits: number, scannedBytes: number }
interface Row {
  name: string
  runs: GrepRun[]
  acks: number
  p50: number
  p99: number
  max: number
}

async function main (): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'logfs-stall-'))
  // On every way out (the end, fail() after an error, a signal) the stores of hundreds of MB go too.
  process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }))
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => fail(new Error(signal)))
  const targets = AGAINST === null ? [{ label: 'this build', bin: undefined }]
    : [{ label: AGAINST, bin: path.join(AGAINST, 'bin/logfs') }, { label: 'this build', bin: undefined }]
  const texts: string[] = []
  const results: unknown[] = []
  for (const [i, target] of targets.entries()) {
    process.stderr.write(`bench: ${target.label}\n`)
    const { text, json } = await measure(path.join(tmp, `data-${i}`), target.label, target.bin)
    texts.push(text)
    results.push(json)
    fs.rmSync(path.join(tmp, `data-${i}`), { recursive: true, force: true })
  }
  const text = texts.join('\n')
  process.stdout.write('\n' + text)
  saveResults('stall', text, results)
}

/** The phases against one build's server over a store of its own; the table and the figures. */
async function measure (dataDir: string, label: string, bin: string | undefined):
  Promise<{ text: string, json: unknown }> {
  const server = start([
    'server', '--json', '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--retention-size', '100GiB',
  ], [], bin)
  const port = (await until(() => server.events.find(e => e.event === 'listening'), 'server', 30_000)).port as number

  process.stderr.write(`bench: filling ${(TOTAL / 1e6).toFixed(0)} MB through the WebSocket ingest\n`)
  const filler = await Ingest.open(port)
  const f0 = performance.now()
  const filled = await fill(filler, TOTAL)
  const fillSeconds = (performance.now() - f0) / 1000
  filler.close()
  const stored = await storedBytes(port)
  if (stored < filled.bytes) throw new Error(`stored ${stored} of ${filled.bytes} bytes`)

  const probe = await AckProbe.start(port, QUIET, PROBE_GAP_MS)

  const rows: Row[] = []
  const phase = async (name: string, work: () => Promise<GrepRun[]>): Promise<void> => {
    await sleep(SETTLE_MS)
    const from = performance.now()
    const runs = await work()
    const to = performance.now()
    const ms = await probe.acksBetween(from, to)
    rows.push({ name, runs, acks: ms.length, p50: pct(ms, 50), p99: pct(ms, 99), max: ms[ms.length - 1] })
    process.stderr.write(`  ${name}: ${ms.length} acks, p99 ${pct(ms, 99).toFixed(1)} ms\n`)
  }
  // Back-to-back runs of one query for at least PHASE_MS; `check` rejects an answer that did not do the work
  // the row claims (a "full scan" that stopped early).
  const greps = (query: string, check: (r: GrepRun) => boolean) => async (): Promise<GrepRun[]> => {
    const runs: GrepRun[] = []
    const t0 = performance.now()
    while (runs.length < MIN_GREP_RUNS || performance.now() - t0 < PHASE_MS) {
      const s = performance.now()
      const answer = await get(port, `/v1/grep?${query}&source=${TENANT}/**`) as
        { hits: unknown[], scannedBytes: number }
      const run = { ms: performance.now() - s, hits: answer.hits.length, scannedBytes: answer.scannedBytes }
      if (!check(run)) throw new Error(`grep ${query}: unexpected answer ${JSON.stringify(run)}`)
      runs.push(run)
    }
    return runs
  }
  const fullScan = (r: GrepRun): boolean => r.hits === 0 && r.scannedBytes >= filled.bytes
  // Bare words and a regex without a bounded literal prove no token, so the store's index cannot prune them
  // (lib/query/literals.ts): each of these greps is a scan of everything.
  const literal = 'q=nosuchneedleanywhere&limit=10'

  process.stderr.write('bench: measuring ack latency, idle and during greps\n')
  // Unmeasured: the first scan also pays for compiling the scan code, which no later grep does.
  await get(port, `/v1/grep?${literal}&source=${TENANT}/**`)
  await phase('idle', async () => { await sleep(PHASE_MS); return [] })
  await phase('grep literal, no hit', greps(literal, fullScan))
  await phase('grep -i, no hit', greps('q=NOSUCHNEEDLE&i=1&limit=10', fullScan))
  await phase('grep -E, no hit', greps(`q=${encodeURIComponent('needle-\\d+x')}&regex=1&limit=10`, fullScan))
  await phase('grep literal, 10,000 hits', greps('q=GET&limit=10000', r => r.hits === 10_000))
  await probe.stop()
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
  const rss = Number(/^process_resident_memory_bytes (\S+)$/m.exec(metrics)?.[1] ?? 0)
  server.proc.kill('SIGTERM')
  await server.exited

  const idle = rows[0]
  const f1 = (n: number): string => n.toFixed(1)
  const lines = rows.map(r => {
    const ms = r.runs.map(g => g.ms).sort((a, b) => a - b)
    const grep = r.runs.length === 0 ? '– | – | – | –'
      : `${r.runs.length} | ${pct(ms, 50).toFixed(0)} | ${ms[ms.length - 1].toFixed(0)} | ` +
        `${(r.runs[0].scannedBytes / 1e6).toFixed(0)}`
    return `| ${r.name} | ${grep} | ${r.acks} | ${f1(r.p50)} | ${f1(r.p99)} | ${f1(r.max)} | ` +
      `${(r.p99 / idle.p99).toFixed(1)} |`
  })
  const table = [
    '| phase | grep runs | grep median ms | grep max ms | scanned MB | acks | ack p50 ms | ack p99 ms | ' +
      'ack max ms | ack p99 ÷ idle |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...lines,
  ].join('\n')
  const text = `${label}: logfs ingest during queries: ack latency of one small batch of tenant ${QUIET} at a ` +
    `time (${PROBE_GAP_MS} ms after the previous ack) over ${(filled.bytes / 1e6).toFixed(0)} MB of ${TENANT} ` +
    `(${filled.lines} JSON lines in ${SOURCES} sources)\n` +
    `${machineLine()}\n` +
    `fill through the WebSocket ingest: ${fillSeconds.toFixed(1)} s ` +
    `(${(filled.bytes / 1e6 / fillSeconds).toFixed(0)} MB/s); server RSS after the greps: ` +
    `${(rss / 2 ** 20).toFixed(0)} MiB; each phase at least ${PHASE_MS / 1000} s and ${MIN_GREP_RUNS} greps\n\n` +
    `${table}\n`
  const json = {
    label, machine: machine(), ...filled, fillSeconds, rss, probeGapMs: PROBE_GAP_MS, phaseMs: PHASE_MS, rows,
  }
  return { text, json }
}

main().catch(fail)
