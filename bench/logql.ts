// LogQL metric queries against DuckDB: `npm run bench:logql` (bench:query's 1 GB store, then its 10 GB one) or
// `-- --size 200MB` (one store); `-- --json` prints one JSON object per store instead of the tables; `-- --runs N`
// times each query N times (3). Fills the store through a real mount (bench/jsonstore.ts), writes tenant shop's
// lines out as files (bench/duckdb-lines.ts), then times four LogQL queries through /loki/api/v1/query_range and
// their SQL over DuckDB's read_json, and compares the answers value by value, per series and step. Last, the ack
// p99 of another tenant's ingest while the quantile query runs back to back, against idle (bench/ackprobe.ts).
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import type { DuckDBConnection } from '@duckdb/node-api'
import { NEEDLE_EVERY } from './jsonwriter'
import { parseSize } from '../lib/util/units'
import { sourceLabels } from '../lib/logql/labels'
import { fail, get, machine, machineLine, saveResults, time, type Timing } from './harness'
import { fillJsonStore, removeJsonStore, untilIndexed } from './jsonstore'
import { duckdb, exportTenant, linesTable, rows } from './duckdb-lines'
import { AckProbe, pct } from './ackprobe'

const arg = (name: string): string | null => {
  const i = process.argv.indexOf(name)
  return i > 0 ? process.argv[i + 1] : null
}
const SIZES = arg('--size') !== null ? [parseSize(arg('--size')!, '--size')] : [1e9, 10e9]
const JSON_OUT = process.argv.includes('--json')
const RUNS = Number(arg('--runs') ?? 3)
const TENANT = 'shop'
const PROBE_GAP_MS = 5
const PHASES = 5
const PHASE_MS = 2000

/** A series' value at a step: `{labels}@seconds`. */
type Answer = Map<string, number>

interface Case {
  name: string
  logql: string
  /** Step (and range) in seconds. */
  step: number
  /** The SQL of the same answer: rows of `k` (the step's index), the series' labels, and `v`. */
  sql: (from: string, where: string) => string
  /** The series' labels of a DuckDB row. */
  labels: (row: Record<string, unknown>) => Record<string, string>
  goal: string
}

interface Measured { name: string, logql: string, logfs: Timing, duckdb: Timing, ratio: number, series: number,
  samples: number, equal: boolean, goal: string }

const key = (labels: Record<string, unknown>, seconds: number): string =>
  `${JSON.stringify(Object.keys(labels).sort().map(k => [k, labels[k]]))}@${seconds}`

function cases (needle: string, sourceOf: (file: string) => string): Case[] {
  const window = (step: number): string => `ceil((_ts - $start) / ${step * 1000})`
  return [
    {
      name: '1. count by level',
      logql: `sum by (level) (count_over_time({tenant="${TENANT}"} | json [1m]))`,
      step: 60,
      sql: (from, where) => `SELECT ${window(60)} AS k, level, count(*) AS v FROM ${from} ` +
        `WHERE ${where} GROUP BY ALL`,
      labels: r => ({ level: String(r.level) }),
      goal: '≤ 1 × at 1 GB',
    },
    {
      name: '2. topk errors by name',
      logql: `topk(3, sum by (name) (count_over_time({tenant="${TENANT}"} | json | level="error" [5m])))`,
      step: 300,
      sql: (from, where) => `SELECT ${window(300)} AS k, name, count(*) AS v FROM ${from} ` +
        `WHERE ${where} AND level = 'error' GROUP BY k, name ` +
        'QUALIFY row_number() OVER (PARTITION BY k ORDER BY v DESC) <= 3',
      labels: r => ({ name: String(r.name) }),
      goal: '≤ 1.5 ×',
    },
    {
      name: '3. p99 duration by name',
      logql: `quantile_over_time(0.99, {tenant="${TENANT}"} | json | unwrap duration [1m]) by (name)`,
      step: 60,
      sql: (from, where) => `SELECT ${window(60)} AS k, name, quantile_cont(duration, 0.99) AS v FROM ${from} ` +
        `WHERE ${where} AND duration IS NOT NULL GROUP BY ALL`,
      labels: r => ({ name: String(r.name) }),
      goal: '≤ 2 ×',
    },
    {
      name: '4. rare token',
      logql: `count_over_time({tenant="${TENANT}"} |= "${needle}" [1h])`,
      step: 3600,
      // The needle is only ever in the msg field, so matching that field is matching the line.
      sql: (from, where) => `SELECT ${window(3600)} AS k, filename, count(*) AS v FROM ${from} ` +
        `WHERE ${where} AND contains(msg, '${needle}') GROUP BY ALL`,
      labels: r => sourceLabels(sourceOf(String(r.filename))),
      goal: '≤ 100 ms at 10 GB',
    },
  ]
}

/** The steps of a query over the whole store: aligned to the step, the first window holding the oldest line. */
function grid (firstTs: number, lastTs: number, step: number): { start: number, end: number } {
  const ms = step * 1000
  return { start: Math.ceil(firstTs / ms) * ms, end: Math.ceil(lastTs / ms) * ms }
}

function logfsAnswer (v: unknown): Answer {
  const data = (v as { data: { resultType: string, result: Array<{ metric: Record<string, string>,
    values: Array<[number, string]> }>, stats: { summary: { scanLimited: boolean } } } }).data
  if (data.resultType !== 'matrix' || data.stats.summary.scanLimited) throw new Error('not a whole matrix')
  const out: Answer = new Map()
  for (const s of data.result) for (const [t, x] of s.values) out.set(key(s.metric, t), Number(x))
  return out
}

function equal (a: Answer, b: Answer): boolean {
  if (a.size !== b.size) return false
  for (const [k, x] of a) {
    const y = b.get(k)
    if (y === undefined || Math.abs(x - y) > 1e-9 * Math.max(1, Math.abs(x))) return false
  }
  return true
}

async function measure (total: number, db: DuckDBConnection): Promise<{ result: unknown, text: string }> {
  const store = await fillJsonStore(total)
  await untilIndexed(store)
  const { port, tmp } = store
  const exported = exportTenant(store.dataDir, TENANT, path.join(tmp, 'duckdb'))
  const sourceOf = new Map([...exported.files].map(([source, file]) => [file, source]))
  const from = linesTable(exported.files.values())
  const needleLine = Math.max(1, Math.floor(store.lines / 2 / NEEDLE_EVERY)) * NEEDLE_EVERY
  if (needleLine >= store.lines) throw new Error('--size is too small for the query set; use at least 100MB')
  const measured: Measured[] = []
  for (const c of cases(`needle-${needleLine}.`, f => sourceOf.get(f)!)) {
    const { start, end } = grid(exported.firstTs, exported.lastTs, c.step)
    const url = `/loki/api/v1/query_range?query=${encodeURIComponent(c.logql)}&start=${start}000000` +
      `&end=${end}000000&step=${c.step}s`
    let ours: Answer = new Map()
    const logfs = await time(() => get(port, url), v => { ours = logfsAnswer(v); return true }, RUNS)
    const count = (end - start) / (c.step * 1000) + 1
    const where = `_ts > ${start - c.step * 1000} AND _ts <= ${end}`
    const sql = c.sql(from, where).replaceAll('$start', String(start))
    let theirs: Answer = new Map()
    const duck = await time(() => rows(db, sql), v => {
      theirs = new Map((v as Array<Record<string, unknown>>).filter(r => Number(r.k) < count)
        .map(r => [key(c.labels(r), (start + Number(r.k) * c.step * 1000) / 1000), Number(r.v)]))
      return true
    }, RUNS)
    const series = new Set([...ours.keys()].map(k => k.slice(0, k.lastIndexOf('@')))).size
    measured.push({
      name: c.name, logql: c.logql, logfs, duckdb: duck, ratio: Number((logfs.medianMs / duck.medianMs).toFixed(2)),
      series, samples: ours.size, equal: equal(ours, theirs), goal: c.goal,
    })
    process.stderr.write(`  ${c.name}: logfs ${logfs.medianMs} ms, DuckDB ${duck.medianMs} ms\n`)
  }
  const acks = await ackPhases(port, cases('', () => '')[2].logql, exported)
  store.server.proc.kill('SIGTERM')
  await store.server.exited
  removeJsonStore(store)
  const gb = (store.written / 1e9).toFixed(2)
  const table = [
    `${gb} GB store (${store.lines * 3} JSON lines; tenant ${TENANT}: ${exported.lines} lines)`,
    '',
    '| query | logfs median ms | DuckDB median ms | logfs ÷ DuckDB | goal | series | samples | answers equal |',
    '|---|---|---|---|---|---|---|---|',
    // A `|` in a query would end its table cell.
    ...measured.map(m => `| ${m.name}: \`${m.logql.replaceAll('|', '\\|')}\` | ${m.logfs.medianMs} | ` +
      `${m.duckdb.medianMs} | ${m.ratio} | ${m.goal} | ${m.series} | ${m.samples} | ${m.equal ? 'yes' : 'NO'} |`),
    '',
    `ingest ack p99 (one small batch at a time, ${PROBE_GAP_MS} ms apart): idle ${acks.idleP99.toFixed(1)} ms, ` +
      `while query 3 runs back to back (${acks.runs} runs) ${acks.busyP99.toFixed(1)} ms: ` +
      `${(acks.busyP99 / acks.idleP99).toFixed(1)} × idle (goal ≤ 2 ×)`,
  ].join('\n')
  const result = { storeBytes: store.written, tenantLines: exported.lines, queries: measured, acks, machine: machine() }
  return { result, text: table }
}

/**
 * Ack p99 of a quiet tenant's ingest, idle and while `logql` runs back to back: PHASES times PHASE_MS of each in
 * turn, each p99 over its phases' acks together, so that what else the machine did in one stretch weighs on both.
 */
async function ackPhases (port: number, logql: string, exported: { firstTs: number, lastTs: number }):
  Promise<{ idleP99: number, busyP99: number, runs: number }> {
  const probe = await AckProbe.start(port, 'quiet', PROBE_GAP_MS)
  const { start, end } = grid(exported.firstTs, exported.lastTs, 60)
  const url = `/loki/api/v1/query_range?query=${encodeURIComponent(logql)}&start=${start}000000` +
    `&end=${end}000000&step=60s`
  const idle: number[] = []
  const busy: number[] = []
  let runs = 0
  for (let phase = 0; phase < PHASES; phase++) {
    const t0 = performance.now()
    await new Promise(resolve => setTimeout(resolve, PHASE_MS))
    idle.push(...await probe.acksBetween(t0, performance.now()))
    const t1 = performance.now()
    for (let n = 0; n < 1 || performance.now() - t1 < PHASE_MS; n++) {
      await get(port, url)
      runs++
    }
    busy.push(...await probe.acksBetween(t1, performance.now()))
  }
  await probe.stop()
  return { idleP99: pct(idle, 99), busyP99: pct(busy, 99), runs }
}

async function main (): Promise<void> {
  const db = await duckdb()
  const runs: Array<{ result: unknown, text: string }> = []
  for (const size of SIZES) {
    const run = await measure(size, db)
    if (JSON_OUT) process.stdout.write(JSON.stringify(run.result) + '\n')
    runs.push(run)
  }
  if (JSON_OUT) return
  const text = 'logfs LogQL metric queries against DuckDB read_json over the same lines\n' +
    `${machineLine()}\n\n${runs.map(r => r.text).join('\n\n')}\n`
  process.stdout.write('\n' + text)
  saveResults('logql', text, runs.map(r => r.result))
}

main().catch(fail)
