// One measurement: a workload with a number of writers against one target, set up fresh and torn down after,
// giving one Row. Writers are separate processes (never the process that serves a mount, see DESIGN.md); the
// collector counts what arrives; the agent's processes are watched from /proc the whole time.
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Collector } from './collector'
import { children, scratch } from './harness'
import { abortMountsUnder } from './mounts'
import { killTree } from './proctree'
import { TENANTS, setUp, type TargetName } from './targets'
import { UsageWatch, type Usage } from './usage'
import type { AppResult, AppSpec } from './appwriter'
import type { Row } from './row'
import type { Workload } from './workloads'

/** How long delivery may take after the writers finished before the missing lines count as lost. */
const DELIVERY_TIMEOUT_MS = 180_000
/** Writers that wrote nothing for this long are stuck, not slow: the mount hung (see finish()). */
const STALL_MS = 60_000

export interface Writer { proc: ChildProcess, result: Promise<AppResult> }

export function startWriter (spec: AppSpec): Writer {
  const proc = spawn(process.execPath, [path.join(__dirname, 'appwriter.js'), JSON.stringify(spec)],
    { stdio: ['ignore', 'pipe', 'pipe'] })
  children.push(proc)
  let out = ''
  let err = ''
  proc.stdout.on('data', (c: Buffer) => { out += c.toString() })
  proc.stderr.on('data', (c: Buffer) => { err += c.toString() })
  const result = new Promise<AppResult>((resolve, reject) => {
    // 'close', not 'exit': 'exit' can come before the last of stdout has been read (seen under load).
    proc.once('close', code => code === 0
      ? resolve(JSON.parse(out) as AppResult)
      : reject(new Error(`writer exited ${code}: ${/^\w*Error.*$/m.exec(err)?.[0] ?? err.slice(0, 200)}`)))
  })
  return { proc, result }
}

/** Bytes the writers have passed to write() so far (/proc/PID/io), read without touching the mount. */
export function written (writers: Writer[]): number {
  let n = 0
  for (const w of writers) {
    try { n += Number(/^wchar: (\d+)/m.exec(fs.readFileSync(`/proc/${w.proc.pid}/io`, 'utf8'))?.[1] ?? 0) } catch {}
  }
  return n
}

/** Where each writer is waiting in the kernel, e.g. "folio_wait_bit", for the report of a hung mount. */
function kernelWaits (writers: Writer[]): string {
  const counts = new Map<string, number>()
  for (const w of writers) {
    if (w.proc.exitCode !== null || w.proc.signalCode !== null) continue
    let at = 'gone'
    try { at = fs.readFileSync(`/proc/${w.proc.pid}/wchan`, 'utf8') || 'running' } catch {}
    counts.set(at, (counts.get(at) ?? 0) + 1)
  }
  return [...counts].map(([at, n]) => `${n} in ${at}`).join(', ')
}

class Stuck extends Error {}

/**
 * The writers' results, or Stuck once they have written nothing for STALL_MS while some are still running. A hung
 * FUSE mount holds its writers in uninterruptible sleep for ever; without this the benchmark (and CI) would wait
 * for ever too. Progress, not a deadline, so a slow target is never taken for a hung one.
 */
export async function finish (writers: Writer[]): Promise<AppResult[]> {
  let timer: NodeJS.Timeout | undefined
  const stalled = new Promise<never>((_resolve, reject) => {
    let last = -1
    let since = Date.now()
    timer = setInterval(() => {
      const now = written(writers) + writers.filter(w => w.proc.exitCode !== null).length
      if (now !== last) { last = now; since = Date.now(); return }
      if (Date.now() - since < STALL_MS) return
      const waits = kernelWaits(writers)
      reject(new Stuck(`writers wrote nothing for ${STALL_MS / 1000} s; waiting in the kernel: ${waits}`))
    }, 1000)
  })
  try {
    return await Promise.race([Promise.all(writers.map(w => w.result)), stalled])
  } finally {
    clearInterval(timer)
  }
}

const round = (n: number, d = 2): number => Math.round(n * 10 ** d) / 10 ** d
const MiB = (kib: number): number => round(kib / 1024, 1)

export async function measure (wl: Workload, writers: number, target: TargetName, buildDir: string): Promise<Row> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'logfs-cmp-'))
  scratch.add(tmp)
  const lines = wl.lines(writers)
  const collector = new Collector(writers, lines)
  const t = await setUp(target, { tmp, buildDir, collector })
  let stuck = false
  let watch: UsageWatch | null = null
  try {
    for (const tenant of TENANTS) fs.mkdirSync(path.join(t.dir, tenant), { recursive: true })
    watch = t.procs ? new UsageWatch(t.procs, wl.watchRing ? t.ring : null) : null
    if (wl.idleMs !== undefined) await new Promise(resolve => setTimeout(resolve, wl.idleMs))
    const started = Array.from({ length: writers }, (_, w) => startWriter({
      file: path.join(t.dir, TENANTS[w % TENANTS.length], `w${w}.log`),
      writer: w, lines, size: wl.size, buffered: wl.buffered, rate: wl.rate / writers,
    }))
    let results: AppResult[]
    try {
      results = await finish(started)
    } catch (err) {
      if (!(err instanceof Stuck)) throw err
      stuck = true
      // Frees the writers: the agent's processes die and the connection is aborted, so their writes fail.
      if (t.procs) killTree(t.procs.root)
      abortMountsUnder(tmp)
      for (const w of started) w.result.catch(() => {})
      throw new Error(`${err.message}; the mount hung (agent killed, connection aborted)`)
    }
    const complete = t.delivers ? await collector.done(DELIVERY_TIMEOUT_MS) : false
    const usage: Usage | null = watch ? await watch.stop() : null
    const wire = await t.wireBytes()
    const base = {
      workload: wl.name, workloadId: wl.id, writers, target, lines: lines * writers, rate: wl.rate,
      ceilingRatio: null,
      agentRssMiB: usage ? MiB(usage.rssKiB) : null,
      agentRss: (usage?.perProcess ?? []).map(p => ({ name: p.name, pid: p.pid, MiB: MiB(p.rssKiB) })),
      ringPeakKiB: usage?.ringPeakBytes != null ? Math.round(usage.ringPeakBytes / 1024) : null,
      // A line whose head arrives mangled (torn, interleaved with another) shows as lost; this says it came.
      problems: [...t.problems(), ...collector.malformed ? [`${collector.malformed} malformed lines arrived`] : []],
    }
    if (results.length === 0) {
      return {
        ...base, appWritesPerSec: null, appLinesPerSec: null, appMBps: null, writeP50us: null, writeP99us: null,
        writeP999us: null, e2eLinesPerSec: null, deliveryP50ms: null, deliveryP99ms: null, agentCpuUsPerLine: null,
        agentCpuSecPerGB: null, wirePerByte: null, lost: null, duplicated: null,
      }
    }
    const bytes = results.reduce((n, r) => n + r.bytes, 0)
    const writeSeconds = Math.max(...results.map(r => r.seconds))
    const writes = results.reduce((n, r) => n + r.writes, 0)
    const worst = (k: 'p50us' | 'p99us' | 'p999us'): number => round(Math.max(...results.map(r => r[k])), 1)
    // From the first line made, not from spawning the writers: a Node start-up is not the target's time.
    const first = Math.min(...results.map(r => r.started))
    const e2eSeconds = (collector.lastArrival - first) / 1000
    return {
      ...base,
      appWritesPerSec: Math.round(writes / writeSeconds),
      appLinesPerSec: Math.round(lines * writers / writeSeconds),
      appMBps: round(bytes / writeSeconds / 1e6),
      writeP50us: worst('p50us'), writeP99us: worst('p99us'), writeP999us: worst('p999us'),
      e2eLinesPerSec: t.delivers && complete ? Math.round(collector.expected / e2eSeconds) : null,
      deliveryP50ms: t.delivers ? round(collector.quantileMs(0.5)) : null,
      deliveryP99ms: t.delivers ? round(collector.quantileMs(0.99)) : null,
      agentCpuUsPerLine: usage ? round(usage.cpuSeconds * 1e6 / (lines * writers), 1) : null,
      agentCpuSecPerGB: usage ? round(usage.cpuSeconds / (bytes / 1e9), 1) : null,
      wirePerByte: wire !== null ? round(wire / bytes, 3) : null,
      lost: t.delivers ? collector.expected - collector.distinct : null,
      duplicated: t.delivers ? collector.duplicates : null,
    }
  } finally {
    watch?.cancel()
    // After a hang the agent is already dead and its mount gone; stopping the rest (the server) may still fail.
    try { await t.stop() } catch (err) { if (!stuck) throw err }
    fs.rmSync(tmp, { recursive: true, force: true })
    scratch.delete(tmp)
  }
}
