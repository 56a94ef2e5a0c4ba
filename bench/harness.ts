// What the benchmarks share: logfs processes started with JSON events on stdout, polling, the machine's name.
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

export const ROOT = path.resolve(__dirname, '../..')
export const TOKEN = 'bench-token-0123456789'
const LOGFS = path.join(ROOT, 'bin/logfs')

export interface Started { proc: ChildProcess, events: Array<Record<string, unknown>>, exited: Promise<number | null> }

/** Every process started, so a failing benchmark can stop them all rather than leave mounts behind. */
export const children: ChildProcess[] = []

export function start (args: string[], nodeArgs: string[] = []): Started {
  const env = { ...process.env, LOGFS_TOKEN: TOKEN, LOGFS_LOG_LEVEL: 'warn' }
  const proc = spawn(process.execPath, [...nodeArgs, LOGFS, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env })
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

export async function get (port: number, pathAndQuery: string): Promise<unknown> {
  const res = await fetch(`http://127.0.0.1:${port}${pathAndQuery}`, { headers: { authorization: `Bearer ${TOKEN}` } })
  if (!res.ok) throw new Error(`${pathAndQuery}: ${res.status} ${await res.text()}`)
  return res.json()
}

export async function storedBytes (port: number): Promise<number> {
  const { sources } = await get(port, '/v1/sources') as { sources: Array<{ bytes: number }> }
  return sources.reduce((n, s) => n + s.bytes, 0)
}

/** Peak RSS and CPU seconds (user + system, all threads) of a process so far. */
export function procStat (pid: number): { peakRssKiB: number, cpuSeconds: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return {
    peakRssKiB: Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0),
    cpuSeconds: (Number(fields[11]) + Number(fields[12])) / 100,
  }
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
  return `machine: ${m.cores} cores (${m.cpu}), ${m.memGiB} GiB, Linux ${m.kernel}, Node ${m.node}`
}

// Whatever ends a benchmark early must not leave its servers, agents, mounts or rsyslogd behind.
process.on('uncaughtException', (err) => fail(err))

export function fail (err: unknown): never {
  process.stderr.write(`bench: ${(err as Error).message}\n`)
  for (const c of children) c.kill('SIGKILL')
  process.exit(1)
}
