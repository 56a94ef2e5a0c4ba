// Benchmark application: `lines` unbuffered writes of `size` bytes (one write() per line, like a logger with
// immediate flush), timing each write() as the application sees it. Prints JSON with the latency quantiles.
import fs from 'node:fs'

const [file, linesText, sizeText] = process.argv.slice(2)
const lines = Number(linesText)
const size = Number(sizeText)
const fd = fs.openSync(file, 'a')
const lat = new Float64Array(lines)
const body = Buffer.alloc(size, 'x')
body[size - 1] = 10
const started = process.hrtime.bigint()
for (let i = 0; i < lines; i++) {
  const prefix = String(i).padStart(10, '0')
  body.write(prefix, 0, 'latin1')
  const t0 = process.hrtime.bigint()
  fs.writeSync(fd, body)
  lat[i] = Number(process.hrtime.bigint() - t0) / 1000
}
const seconds = Number(process.hrtime.bigint() - started) / 1e9
fs.closeSync(fd)
lat.sort()
const q = (p: number): number => lat[Math.min(lines - 1, Math.floor(p * lines))]
process.stdout.write(JSON.stringify({ lines, bytes: lines * size, seconds, p50us: q(0.5), p99us: q(0.99), p999us: q(0.999) }) + '\n')
