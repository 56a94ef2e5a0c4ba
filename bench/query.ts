// Query latency over a store filled through a real mount: `npm run bench:query` (1 GB) or `-- --size 200MB`;
// `-- --json` prints one JSON object instead of the table. Writes JSON log lines from three writer processes,
// waits until the server has every byte, then times the server's restart (until it answers a query), grep (a
// rare text over everything, a common one, a regex with early stop, time-narrowed, one source), context, trace and
// tail, each 5 times (median and worst). Side by side, GNU grep (and ripgrep when installed) count the rare text
// in the same bytes as plain files: the scan speed this machine gives. Issue 13's goals at 10 GB are printed
// beside the figures.
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { NEEDLE_EVERY, traceId } from './jsonwriter'
import { parseSize } from '../lib/util/units'
import { ROOT, fail, get, machineLine, readSource, start, until } from './harness'

const sizeArg = process.argv.indexOf('--size')
const TOTAL = sizeArg > 0 ? parseSize(process.argv[sizeArg + 1], '--size') : 1024 ** 3
const JSON_OUT = process.argv.includes('--json')
const FILES = ['shop/api/app.log', 'shop/worker/app.log', 'bank/db/app.log']

interface Timing { medianMs: number, maxMs: number }
/** What a jsonwriter.js process reports when it is done. */
interface Written { bytes: number, lines: number }

async function time (fn: () => Promise<unknown>, check: (v: unknown) => boolean, runs = 5): Promise<Timing> {
  const ms: number[] = []
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint()
    const v = await fn()
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6)
    if (!check(v)) throw new Error(`unexpected answer: ${JSON.stringify(v).slice(0, 300)}`)
  }
  ms.sort((a, b) => a - b)
  return { medianMs: Number(ms[Math.floor(runs / 2)].toFixed(1)), maxMs: Number(ms[runs - 1].toFixed(1)) }
}

async function main (): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'logfs-qbench-'))
  const mnt = path.join(tmp, 'mnt')
  const dataDir = path.join(tmp, 'data')
  fs.mkdirSync(mnt)
  let server = start([
    'server', '--json', '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--retention-size', '100GiB',
  ])
  const port = (await until(() => server.events.find(e => e.event === 'listening'), 'server')).port as number
  const agent = start([
    'mount', mnt, '--server', `ws://127.0.0.1:${port}`, '--json', '--node', 'bench', '--state-dir', tmp,
    '--ring-size', '64MiB',
  ])
  await until(() => agent.events.find(e => e.event === 'mounted'), 'mount')
  for (const f of FILES) fs.mkdirSync(path.dirname(path.join(mnt, f)), { recursive: true })
  process.stderr.write(`bench: writing ${(TOTAL / 1e9).toFixed(2)} GB of JSON lines through the mount\n`)
  const t0 = Date.now()
  const perWriter = String(Math.ceil(TOTAL / FILES.length))
  const writer = path.join(__dirname, 'jsonwriter.js')
  const outs = await Promise.all(FILES.map((f, k) => new Promise<Written>((resolve, reject) => {
    const w = spawn(process.execPath, [writer, path.join(mnt, f), String(k), perWriter],
      { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    w.stdout.on('data', (c: Buffer) => { out += c.toString() })
    w.once('close', code => code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`writer exited ${code}`)))
  })))
  const written = outs.reduce((n, o) => n + o.bytes, 0)
  const lines = Math.min(...outs.map(o => o.lines))
  let last = 0
  await until(async () => {
    const { sources } = await get(port, '/v1/sources') as { sources: Array<{ bytes: number }> }
    const n = sources.reduce((a, s) => a + s.bytes, 0)
    if (Date.now() - last > 2000) {
      last = Date.now()
      process.stderr.write(`  ${(100 * n / written).toFixed(0)}% stored\n`)
    }
    return n >= written ? n : undefined
  }, 'ingest')
  const ingestSeconds = (Date.now() - t0) / 1000
  agent.proc.kill('SIGTERM')
  await agent.exited

  // Restart the server: the time to open is the time to rebuild its in-memory indexes from the segments.
  server.proc.kill('SIGTERM')
  await server.exited
  const r0 = Date.now()
  server = start(['server', '--json', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`])
  await until(() => server.events.find(e => e.event === 'listening'), 'restart')
  await get(port, '/v1/sources')
  const openSeconds = (Date.now() - r0) / 1000
  const rssAfterRestart = await serverRss(port)

  const mid = Math.floor(lines / 2)
  // A needle with lines before it, so context has something to show; the dot ends it (needle-5 ≠ needle-50).
  const needleLine = Math.max(1, Math.floor(mid / NEEDLE_EVERY)) * NEEDLE_EVERY
  const needle = `needle-${needleLine}.`
  if (needleLine >= lines) throw new Error('--size is too small for the query set; use at least 100MB')
  const hits = (v: unknown): number => (v as { hits: unknown[] }).hits.length
  const rows: Array<[string, string, Timing]> = []
  const q = async (name: string, what: string, url: string, check: (v: unknown) => boolean): Promise<void> => {
    rows.push([name, what, await time(() => get(port, url), check)])
    process.stderr.write(`  ${name}: done\n`)
  }
  const gb = (written / 1e9).toFixed(2)
  await q('grep, rare text, whole store', `"${needle}": full scan of ${gb} GB`,
    `/v1/grep?q=${needle}&limit=10`, v => hits(v) >= 1)
  await q('grep, common text', '"timeout" (1 line in 1,000), first 100 hits',
    '/v1/grep?q=timeout&limit=100', v => hits(v) === 100)
  const regex = 'upstream timeout after \\d+'
  await q('grep, regex, stops at 100 hits', `"${regex}"`,
    `/v1/grep?q=${encodeURIComponent(regex)}&regex=1&limit=100`, v => hits(v) === 100)
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
  const rss = await serverRss(port)
  const indexBytes = sidecarBytes(dataDir)
  const peers = await scanPeers(port, tmp, needle)
  server.proc.kill('SIGTERM')
  await server.exited
  fs.rmSync(tmp, { recursive: true, force: true })
  const ms = (name: string): number => rows.find(r => r[0] === name)![2].medianMs
  const result = {
    storeBytes: written,
    lines: lines * 3,
    ingestMBps: Number((written / 1e6 / ingestSeconds).toFixed(1)),
    grepRareMs: ms('grep, rare text, whole store'),
    grepCommonMs: ms('grep, common text'),
    grepRegexMs: ms('grep, regex, stops at 100 hits'),
    contextMs: ms('context -B 20 -A 20'),
    traceMs: ms('trace by id'),
    restartMs: Math.round(openSeconds * 1000),
    serverRssMiB: { afterRestart: Math.round(rssAfterRestart / 2 ** 20), afterQueries: Math.round(rss / 2 ** 20) },
    indexBytes,
    gnuGrepMs: peers.gnuGrepMs,
    ripgrepMs: peers.ripgrepMs,
    machine: machineLine(),
  }
  if (JSON_OUT) {
    process.stdout.write(JSON.stringify(result) + '\n')
    return
  }

  const table = [
    '| query | what | median ms | worst of 5 ms |',
    '|---|---|---|---|',
    ...rows.map(([n, w, r]) => `| ${n} | ${w} | ${r.medianMs} | ${r.maxMs} |`),
  ].join('\n')
  const goals = [
    '| measure | here | issue 13 goal at 10 GB |',
    '|---|---|---|',
    `| rare-text grep | ${result.grepRareMs} ms | ≤ 200 ms |`,
    `| GNU grep -c / ripgrep -c, same bytes as files | ${result.gnuGrepMs} ms / ` +
      `${result.ripgrepMs === null ? 'not installed' : `${result.ripgrepMs} ms`} | (this machine's scan speed) |`,
    `| restart until a query answers | ${result.restartMs} ms | ≤ 1,000 ms |`,
    `| server RSS after restart / after the queries | ${result.serverRssMiB.afterRestart} / ` +
      `${result.serverRssMiB.afterQueries} MiB | ≤ 256 MiB |`,
    `| index sidecars | ${(100 * indexBytes / written).toFixed(1)} % of the data | ≤ 5 % |`,
    `| ingest until durable | ${result.ingestMBps} MB/s | not lower than before |`,
  ].join('\n')
  const text = `logfs queries over ${gb} GB (${lines * 3} JSON lines) written through the mount\n` +
    `${machineLine()}\n\n${goals}\n\n${table}\n`
  process.stdout.write('\n' + text)
  const dir = path.join(ROOT, 'bench/results')
  fs.mkdirSync(dir, { recursive: true })
  const stamp = new Date().toISOString().replace(/[:.]/g, '-')
  fs.writeFileSync(path.join(dir, `query-${stamp}.md`), text)
  fs.writeFileSync(path.join(dir, `query-${stamp}.json`), JSON.stringify({ ...result, rows }, null, 2) + '\n')
}

async function serverRss (port: number): Promise<number> {
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
  return Number(/^process_resident_memory_bytes (\S+)$/m.exec(metrics)?.[1] ?? 0)
}

/** Bytes of the store's index sidecars (issue 13), next to its segments. */
function sidecarBytes (dataDir: string): number {
  return fs.readdirSync(dataDir).filter(f => f.endsWith('.idx'))
    .reduce((n, f) => n + fs.statSync(path.join(dataDir, f)).size, 0)
}

/**
 * The stored bytes of every source as plain files, counted by GNU grep and ripgrep (median of 3, after one run
 * that warms the page cache): what a scan of the same bytes costs on this machine without logfs.
 */
async function scanPeers (port: number, tmp: string, needle: string):
  Promise<{ gnuGrepMs: number, ripgrepMs: number | null }> {
  const dir = path.join(tmp, 'raw')
  fs.mkdirSync(dir)
  const { sources } = await get(port, '/v1/sources') as { sources: Array<{ source: string }> }
  const files: string[] = []
  for (const [i, { source }] of sources.entries()) {
    const file = path.join(dir, `${i}.log`)
    const fd = fs.openSync(file, 'w')
    await readSource(port, source, page => fs.writeSync(fd, page))
    fs.closeSync(fd)
    files.push(file)
  }
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
    gnuGrepMs: timed('grep', ['-c', '-F', needle, ...files]) ?? NaN,
    ripgrepMs: timed('rg', ['-c', '-F', needle, ...files]),
  }
}

main().catch(fail)
