// Query latency over a store filled through a real mount: `npm run bench:query` (a 1 GB store, then a 10 GB one)
// or `-- --size 200MB` (one store); `-- --json` prints one JSON object per store instead of the tables. Writes JSON
// log lines from three writer processes, waits until the server has every byte and every index sidecar, then times
// the server's restart (until it answers a query), grep (a rare text over everything, a common one, a regex with
// early stop, a regex that proves no token and so scans everything, time-narrowed, one source), context, trace and
// tail, each 5 times (median and worst). Side by side, GNU grep (and ripgrep when installed) count the rare text
// in the segment files: the same lines as plain files, the scan speed this machine gives. The search goals at
// 10 GB are printed beside the figures. `-- --store nats://` adds, for each size, the same data in a gateway over a
// 3-node JetStream cluster started for the run, its figures beside the embedded store's (bench/clusterquery.ts).
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import { traceId } from './jsonwriter'
import { parseSize } from '../lib/util/units'
import { storeFiles } from '../lib/store/disk/layout'
import { fail, get, machineLine, start, until, saveResults, time, type Timing } from './harness'
import { fillJsonStore, removeJsonStore, gauge, rareNeedle, untilIndexed } from './jsonstore'
import { clusterTable, measureCluster, type ClusterResult } from './clusterquery'

const sizeArg = process.argv.indexOf('--size')
const SIZES = sizeArg > 0 ? [parseSize(process.argv[sizeArg + 1], '--size')] : [1e9, 10e9]
const JSON_OUT = process.argv.includes('--json')
const storeArg = process.argv.indexOf('--store')
if (storeArg > 0 && process.argv[storeArg + 1] !== 'nats://') {
  fail(new Error(`--store: only nats:// (a cluster the bench starts) is known, not ${process.argv[storeArg + 1]}`))
}
const CLUSTER = storeArg > 0

type Row = [string, string, Timing]

/** One store of `TOTAL` bytes: filled, restarted, queried; its figures and its timed queries. */
async function measure (TOTAL: number): Promise<{ result: Result, rows: Row[] }> {
  const filled = await fillJsonStore(TOTAL)
  const { dataDir, port, written, lines, t0, ingestSeconds } = filled
  let server = filled.server
  // Sidecars are written off the ingest thread, after the bytes are durable: how far behind they are.
  await untilIndexed(filled)
  const indexLagMs = Date.now() - t0 - ingestSeconds * 1000

  // Restart the server: the time to open is the time to read the sidecars' entry tables (and the open segment).
  server.proc.kill('SIGTERM')
  await server.exited
  const r0 = Date.now()
  server = start(['server', '--json', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`])
  await until(() => server.events.find(e => e.event === 'listening'), 'restart')
  await get(port, '/v1/sources')
  const openSeconds = (Date.now() - r0) / 1000
  const rssAfterRestart = await gauge(port, 'process_resident_memory_bytes')

  const mid = Math.floor(lines / 2)
  const { needle } = rareNeedle(lines)
  // The first search after a restart also checks each sidecar filter's CRC, once.
  const f0 = process.hrtime.bigint()
  await get(port, `/v1/grep?q=${needle}&limit=10`)
  const firstGrepMs = Number((Number(process.hrtime.bigint() - f0) / 1e6).toFixed(1))
  const hits = (v: unknown): number => (v as { hits: unknown[] }).hits.length
  const rows: Row[] = []
  const answers = new Map<string, unknown>()
  const q = async (name: string, what: string, url: string, check: (v: unknown) => boolean): Promise<void> => {
    rows.push([name, what, await time(() => get(port, url), v => { answers.set(name, v); return check(v) })])
    process.stderr.write(`  ${name}: done\n`)
  }
  const gb = (written / 1e9).toFixed(2)
  await q('grep, rare text, whole store', `"${needle}" in ${gb} GB`, `/v1/grep?q=${needle}&limit=10`, v => hits(v) >= 1)
  await q('grep, common text', '"timeout" (1 line in 1,000), first 100 hits',
    '/v1/grep?q=timeout&limit=100', v => hits(v) === 100)
  const regex = 'upstream timeout after \\d+'
  await q('grep, regex, stops at 100 hits', `"${regex}"`,
    `/v1/grep?q=${encodeURIComponent(regex)}&regex=1&limit=100`, v => hits(v) === 100)
  const noLiteral = 'needle-\\d+x'
  await q('grep, regex proving no token', `"${noLiteral}" (no hit): a scan of everything`,
    `/v1/grep?q=${encodeURIComponent(noLiteral)}&regex=1&limit=10`, v => hits(v) === 0)
  const listed = (await get(port, '/v1/sources')) as { sources: Array<{ lastWrite: number }> }
  const lastWrite = Math.max(...listed.sources.map(s => s.lastWrite))
  const since = Math.round(lastWrite - (lastWrite - t0) * 0.1)
  await q('grep, newest 10 % of the time only',
    `"${needle}" since ${new Date(since).toISOString()}: the time index skips the rest`,
    `/v1/grep?q=${needle}&since=${since}&limit=10`, () => true)
  await q('grep, one source by glob', `"${needle}" in shop/api/**`,
    `/v1/grep?q=${needle}&source=${encodeURIComponent('shop/api/**')}&limit=10`, v => hits(v) >= 1)
  const found = (await get(port, `/v1/grep?q=${needle}&limit=1`)) as { hits: Array<{ source: string, cursor: string }> }
  const hit = found.hits[0]
  await q('context -B 20 -A 20', 'around the needle',
    `/v1/context?source=${encodeURIComponent(hit.source)}&cursor=${hit.cursor}&before=20&after=20`,
    v => (v as { before: unknown[] }).before.length === 20)
  await q('trace by id', `trace of request ${mid}: 3 sources, a missing level`, `/v1/trace?id=${traceId(mid)}`,
    v => (v as { lines: number }).lines === 3)
  await q('tail -n 10', 'last lines of a source',
    `/v1/tail?source=${encodeURIComponent('bench/shop/api/app.log')}&lines=10`,
    v => (v as { lines: unknown[] }).lines.length === 10)
  const rss = await gauge(port, 'process_resident_memory_bytes')
  const indexBytes = sidecarBytes(dataDir)
  const peers = scanPeers(dataDir, needle)
  server.proc.kill('SIGTERM')
  await server.exited
  removeJsonStore(filled)
  const ms = (name: string): number => rows.find(r => r[0] === name)![2].medianMs
  const scanned = (name: string): number => (answers.get(name) as { scannedBytes: number }).scannedBytes
  const result = {
    storeBytes: written,
    lines: lines * 3,
    ingestMBps: Number((written / 1e6 / ingestSeconds).toFixed(1)),
    indexLagMs,
    grepRareMs: ms('grep, rare text, whole store'),
    grepRareScannedBytes: scanned('grep, rare text, whole store'),
    grepCommonMs: ms('grep, common text'),
    grepRegexMs: ms('grep, regex, stops at 100 hits'),
    grepScanMs: ms('grep, regex proving no token'),
    grepScanScannedBytes: scanned('grep, regex proving no token'),
    contextMs: ms('context -B 20 -A 20'),
    traceMs: ms('trace by id'),
    restartMs: Math.round(openSeconds * 1000),
    firstGrepMs,
    serverRssMiB: { afterRestart: Math.round(rssAfterRestart / 2 ** 20), afterQueries: Math.round(rss / 2 ** 20) },
    indexBytes,
    gnuGrepMs: peers.gnuGrepMs,
    ripgrepMs: peers.ripgrepMs,
    machine: machineLine(),
  }
  return { result, rows }
}

type Result = {
  storeBytes: number
  lines: number
  ingestMBps: number
  indexLagMs: number
  grepRareMs: number
  grepRareScannedBytes: number
  grepCommonMs: number
  grepRegexMs: number
  grepScanMs: number
  grepScanScannedBytes: number
  contextMs: number
  traceMs: number
  restartMs: number
  firstGrepMs: number
  serverRssMiB: { afterRestart: number, afterQueries: number }
  indexBytes: number
  gnuGrepMs: number
  ripgrepMs: number | null
  machine: string
}

async function main (): Promise<void> {
  const runs: Array<{ result: Result, rows: Row[], cluster?: ClusterResult }> = []
  for (const size of SIZES) {
    const run = await measure(size)
    const cluster = CLUSTER ? await measureCluster(size) : undefined
    if (JSON_OUT) process.stdout.write(JSON.stringify({ ...run.result, cluster }) + '\n')
    runs.push({ ...run, cluster })
  }
  if (JSON_OUT) return
  const results = runs.map(r => r.result)
  const cols = (f: (r: Result) => string): string => results.map(f).join(' | ')
  const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`
  const goals = [
    `| measure | ${cols(r => `${(r.storeBytes / 1e9).toFixed(2)} GB`)} | goal at 10 GB |`,
    `|---|${cols(() => '---')}|---|`,
    `| rare-text grep | ${cols(r => `${r.grepRareMs} ms (read ${mb(r.grepRareScannedBytes)})`)} | ≤ 200 ms |`,
    `| grep proving no token (a scan) | ${cols(r => `${r.grepScanMs} ms (read ${mb(r.grepScanScannedBytes)})`)} | |`,
    `| GNU grep -c / ripgrep -c over the segment files | ${cols(r => `${r.gnuGrepMs} ms / ` +
      `${r.ripgrepMs === null ? 'not installed' : `${r.ripgrepMs} ms`}`)} | (this machine's scan speed) |`,
    `| restart until a query answers | ${cols(r => `${r.restartMs} ms`)} | ≤ 1,000 ms |`,
    `| the first rare-text grep after it (checks each filter's CRC) | ${cols(r => `${r.firstGrepMs} ms`)} | |`,
    `| server RSS after restart / after the queries | ${cols(r => `${r.serverRssMiB.afterRestart} / ` +
      `${r.serverRssMiB.afterQueries} MiB`)} | ≤ 256 MiB |`,
    `| index sidecars | ${cols(r => `${(100 * r.indexBytes / r.storeBytes).toFixed(2)} % of the data`)} | ≤ 5 % |`,
    `| ingest until durable | ${cols(r => `${r.ingestMBps} MB/s`)} | not lower than before |`,
    `| sidecars written after the last byte was durable | ${cols(r => `${r.indexLagMs} ms`)} | |`,
  ].join('\n')
  const tables = runs.map(({ result, rows }) => [
    `${(result.storeBytes / 1e9).toFixed(2)} GB (${result.lines} JSON lines)`,
    '',
    '| query | what | median ms | worst of 5 ms |',
    '|---|---|---|---|',
    ...rows.map(([n, w, r]) => `| ${n} | ${w} | ${r.medianMs} | ${r.maxMs} |`),
  ].join('\n'))
  const clusters = runs.flatMap(r => r.cluster ? [clusterTable(r.result, r.cluster)] : [])
  const text = 'logfs queries over stores written through the mount\n' +
    `${machineLine()}\n\n${goals}\n\n${[...tables, ...clusters].join('\n\n')}\n`
  process.stdout.write('\n' + text)
  saveResults(CLUSTER ? 'query-cluster' : 'query', text, runs)
}

/** Bytes of the store's index sidecars, next to its segments. */
function sidecarBytes (dataDir: string): number {
  return storeFiles(dataDir, '.idx').reduce((n, f) => n + fs.statSync(f).size, 0)
}

/**
 * GNU grep and ripgrep counting the rare text in the segment files, read as text (median of 3, after one run that
 * warms the page cache): the same lines, with a few bytes of entry header between batches. What a scan of these
 * bytes costs on this machine without logfs.
 */
function scanPeers (dataDir: string, needle: string): { gnuGrepMs: number, ripgrepMs: number | null } {
  const files = storeFiles(dataDir, '.seg')
  const timed = (cmd: string, args: string[]): number | null => {
    const ms: number[] = []
    for (let i = 0; i < 4; i++) {
      const t0 = process.hrtime.bigint()
      const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] })
      if (r.error) return null
      if (i > 0) ms.push(Number(process.hrtime.bigint() - t0) / 1e6)
    }
    return Number(ms.sort((a, b) => a - b)[1].toFixed(1))
  }
  return {
    gnuGrepMs: timed('grep', ['-c', '-a', '-F', needle, ...files]) ?? NaN,
    ripgrepMs: timed('rg', ['-c', '-a', '-F', needle, ...files]),
  }
}

main().catch(fail)
