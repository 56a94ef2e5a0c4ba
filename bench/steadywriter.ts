// A log writer that never reopens its file, as Python's logging handlers, log4j2's file appenders and nginx do:
// it opens the path once and writes numbered lines at a fixed rate through every agent restart. A failed write
// is counted and the writer goes on with the same descriptor. Prints JSON: lines written and failed, the first
// error, and how long write() calls took (p99, longest, and how many took over 100 ms: stalls).
//   node steadywriter.js FILE LINES RATE [WRITER]
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import { performance } from 'node:perf_hooks'

export interface SteadyResult {
  lines: number
  failed: number
  firstError: string | null
  p99ms: number
  maxMs: number
  /** write() calls that took over 100 ms. */
  stalls: number
}

/** The line `seq` of writer `w`: fixed width, so a store's byte count gives the line count. */
export function steadyLine (w: number, seq: number): string {
  return `w${String(w).padStart(2, '0')} seq ${String(seq).padStart(9, '0')} ${'x'.repeat(82)}\n`
}

/** Runs a steady writer as its own process (this file, compiled); resolves with what it printed. */
export function runSteady (file: string, lines: number, rate: number, writer: number): Promise<SteadyResult> {
  const p = spawn(process.execPath, [__filename, file, String(lines), String(rate), String(writer)],
    { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  p.stdout.on('data', (c: Buffer) => { out += c.toString() })
  return new Promise((resolve, reject) => p.once('exit', code => {
    try { resolve(JSON.parse(out) as SteadyResult) } catch { reject(new Error(`steady writer exited ${code}`)) }
  }))
}

function main (): void {
  const [file, linesText, rateText, writerText] = process.argv.slice(2)
  const lines = Number(linesText)
  const rate = Number(rateText)
  const writer = Number(writerText ?? 0)
  const fd = fs.openSync(file, 'a')
  const lat = new Float64Array(lines)
  const pause = new Int32Array(new SharedArrayBuffer(4))
  let failed = 0
  let firstError: string | null = null
  const started = performance.now()
  for (let i = 0; i < lines; i++) {
    const due = started + (i * 1000) / rate
    for (let ahead = due - performance.now(); ahead > 0; ahead = due - performance.now()) {
      Atomics.wait(pause, 0, 0, Math.max(0.05, ahead))
    }
    const t0 = performance.now()
    try {
      fs.writeSync(fd, steadyLine(writer, i))
    } catch (err) {
      failed++
      firstError ??= (err as NodeJS.ErrnoException).code ?? String(err)
    }
    lat[i] = performance.now() - t0
  }
  // A descriptor whose mount was made again (no handover) fails to close too; its writes were counted already.
  try { fs.closeSync(fd) } catch {}
  const sorted = lat.slice().sort()
  const result: SteadyResult = {
    lines, failed, firstError, p99ms: sorted[Math.floor(0.99 * (lines - 1))], maxMs: sorted[lines - 1],
    stalls: lat.filter(ms => ms > 100).length,
  }
  process.stdout.write(JSON.stringify(result) + '\n')
}

if (require.main === module) main()
