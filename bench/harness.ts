// What the benchmarks share: logfs processes started with JSON events on stdout, polling, the machine's name.
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { killTree } from './proctree'
import { abortMountsUnder } from './mounts'

export const ROOT = path.resolve(__dirname, '../..')
export const TOKEN = 'bench-token-0123456789'
const LOGFS = path.join(ROOT, 'bin/logfs')

export interface Started { proc: ChildProcess, events: Array<Record<string, unknown>>, exited: Promise<number | null> }

/**
 * Every process started (logfs, and the peers: nullfs, rsyslogd), so a failing benchmark can stop them all, with
 * whatever they started, rather than leave mounts and agents behind.
 */
export const children: ChildProcess[] = []

/** Starts `logfs ARGS`: this build's, or the one at `bin` (another worktree's, for a side-by-side run). */
export function start (args: string[], nodeArgs: string[] = [], bin = LOGFS): Started {
  const env = { ...process.env, LOGFS_TOKEN: TOKEN, LOGFS_LOG_LEVEL: 'warn' }
  const proc = spawn(process.execPath, [...nodeArgs, bin, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env })
  children.push(proc)
  const events: Array<Record<string, unknown>> = []
  let buf = ''
  proc.stdout.on('data', (c: Buffer) => {
    buf += c.toString()
    let nl
    while ((nl = buf.indexOf('\n')) >= 0) {
      try { events.push(JSON.parse(buf.slice(0, nl))) } catch {}
      buf = buf.slice(nl + 1)
    }
  })
  return { proc, events, exited: new Promise(resolve => proc.once('exit', resolve)) }
}

export async function until<T> (
  fn: () => T | undefined | Promise<T | undefined>, what: string, timeoutMs = 1_800_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

export interface Timing { medianMs: number, maxMs: number }

/** `fn` run `runs` times one after another: the median and the worst time; `check` rejects a wrong answer. */
export async function time (fn: () => Promise<unknown>, check: (v: unknown) => boolean, runs = 5): Promise<Timing> {
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

export async function get (port: number, pathAndQuery: string): Promise<unknown> {
  const res = await fetch(`http://127.0.0.1:${port}${pathAndQuery}`, { headers: { authorization: `Bearer ${TOKEN}` } })
  if (!res.ok) throw new Error(`${pathAndQuery}: ${res.status} ${await res.text()}`)
  return res.json()
}

/**
 * Every stored byte of a source, page by page through /v1/read, handed to `onPage` in cursor order. A source the
 * server does not know has no bytes.
 */
export async function readSource (port: number, source: string, onPage: (bytes: Buffer) => void): Promise<void> {
  for (let from = ''; ;) {
    const q = `/v1/read?source=${encodeURIComponent(source)}${from ? `&from=${from}` : ''}`
    const res = await fetch(`http://127.0.0.1:${port}${q}`, { headers: { authorization: `Bearer ${TOKEN}` } })
    if (res.status === 404) return
    if (!res.ok) throw new Error(`${q}: ${res.status}`)
    const body = Buffer.from(await res.arrayBuffer())
    if (body.length === 0) return
    onPage(body)
    from = res.headers.get('logfs-next') ?? ''
    if (!from) return
  }
}

/**
 * Writes a run's Markdown (and its data as JSON, when given) to bench/results/NAME-STAMP.md (.json); returns the
 * path without its extension, for files of other kinds beside them.
 */
export function saveResults (name: string, text: string, data?: unknown): string {
  const dir = path.join(ROOT, 'bench/results')
  fs.mkdirSync(dir, { recursive: true })
  const base = path.join(dir, `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}`)
  fs.writeFileSync(`${base}.md`, text)
  if (data !== undefined) fs.writeFileSync(`${base}.json`, JSON.stringify(data, null, 2) + '\n')
  return base
}

export async function storedBytes (port: number): Promise<number> {
  const { sources } = await get(port, '/v1/sources') as { sources: Array<{ bytes: number }> }
  return sources.reduce((n, s) => n + s.bytes, 0)
}

export function machine (): { cores: number, cpu: string, memGiB: number, kernel: string, node: string } {
  const cpus = os.cpus()
  return {
    cores: cpus.length,
    cpu: cpus[0]?.model ?? '?',
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    node: process.version,
  }
}

export function machineLine (): string {
  const m = machine()
  // The load average says how noisy the machine was: compare targets within one run, not across runs.
  const load = os.loadavg().map(l => l.toFixed(2)).join(' ')
  return `machine: ${m.cores} cores (${m.cpu}), ${m.memGiB} GiB, Linux ${m.kernel}, Node ${m.node}, load ${load}`
}

/** The machine's CPU time so far, busy and in all, from os.cpus() (ms): `busyShare` of two of these. */
export function cpuTimes (): { busy: number, total: number } {
  let busy = 0
  let total = 0
  for (const c of os.cpus()) {
    const t = c.times.user + c.times.nice + c.times.sys + c.times.irq
    busy += t
    total += t + c.times.idle
  }
  return { busy, total }
}

/** The share of all cores (%) that was busy between two cpuTimes(): how much CPU a scenario left to spare. */
export function busyShare (from: { busy: number, total: number }, to: { busy: number, total: number }): number {
  return Math.round((to.busy - from.busy) / Math.max(1, to.total - from.total) * 100)
}

/** Scratch directories of runs in progress; whatever is mounted below one is the benchmark's own. */
export const scratch = new Set<string>()

/**
 * Ends everything a run started and did not stop (processes with what they started, mounts, scratch
 * directories): after a failed run, before the next one, and when a benchmark ends early.
 */
export function cleanUp (): void {
  for (const c of children) if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) killTree(c.pid)
  for (const dir of scratch) {
    abortMountsUnder(dir)
    fs.rmSync(dir, { recursive: true, force: true })
  }
  scratch.clear()
}

// Whatever ends a benchmark early must not leave its servers, agents, mounts or rsyslogd behind.
process.on('uncaughtException', (err) => fail(err))

export function fail (err: unknown): never {
  process.stderr.write(`bench: ${(err as Error).message}\n`)
  cleanUp()
  process.exit(1)
}
