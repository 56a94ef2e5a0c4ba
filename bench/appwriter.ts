// The benchmark application: JSON lines `{"w":W,"seq":N,"t":MS,"msg":"xx…"}` of a fixed size, written one
// write() per line (like a logger with immediate flush) or through a 64 KiB buffer, as fast as possible or at a
// fixed rate. `t` is the wall-clock time the line was made, so the receiving side measures delivery latency.
// Prints what it did as JSON, with the write() latency quantiles the application saw.
import fs from 'node:fs'
import { performance } from 'node:perf_hooks'

export interface AppSpec {
  file: string
  writer: number
  lines: number
  size: number
  buffered: boolean
  /** Lines per second, 0 for as fast as possible. */
  rate: number
}

export interface AppResult {
  /** Wall-clock ms when the first line was made: delivery rates count from here, not from the process spawn. */
  started: number
  lines: number
  bytes: number
  writes: number
  seconds: number
  p50us: number
  p99us: number
  p999us: number
}

const now = (): number => performance.timeOrigin + performance.now()

export function makeLine (writer: number, seq: number, size: number): string {
  const head = `{"w":${writer},"seq":${seq},"t":${now().toFixed(3)},"msg":"`
  return head + 'x'.repeat(Math.max(1, size - head.length - 3)) + '"}\n'
}

function main (): void {
  const spec = JSON.parse(process.argv[2]) as AppSpec
  const fd = fs.openSync(spec.file, 'a')
  // One slot per write at most: a buffered write carries at least one line.
  const lat = new Float64Array(spec.lines + 1)
  let writes = 0
  let bytes = 0
  const buf = Buffer.alloc(65536)
  let used = 0
  const write = (data: Buffer | string, length?: number): void => {
    const t0 = process.hrtime.bigint()
    if (typeof data === 'string') fs.writeSync(fd, data)
    else fs.writeSync(fd, data, 0, length)
    lat[writes++] = Number(process.hrtime.bigint() - t0) / 1000
  }
  const pause = new Int32Array(new SharedArrayBuffer(4))
  const started = now()
  for (let i = 0; i < spec.lines; i++) {
    if (spec.rate > 0) {
      const due = started + (i * 1000) / spec.rate
      // Sleep (a blocking wait: this process does nothing else) until the line is due.
      for (let ahead = due - now(); ahead > 0; ahead = due - now()) Atomics.wait(pause, 0, 0, Math.max(0.05, ahead))
    }
    const line = makeLine(spec.writer, i, spec.size)
    bytes += line.length
    if (!spec.buffered) { write(line); continue }
    if (used + line.length > buf.length) { write(buf, used); used = 0 }
    used += buf.write(line, used, 'latin1')
  }
  if (used > 0) write(buf, used)
  const seconds = (now() - started) / 1000
  fs.closeSync(fd)
  const l = lat.subarray(0, writes).sort()
  const q = (p: number): number => l[Math.min(writes - 1, Math.floor(p * writes))]
  const result: AppResult = {
    started, lines: spec.lines, bytes, writes, seconds, p50us: q(0.5), p99us: q(0.99), p999us: q(0.999),
  }
  process.stdout.write(JSON.stringify(result) + '\n')
}

if (require.main === module) main()
