// Benchmark application for queries: JSON log lines (trace_id + rpc_id, as `logfs trace` reads them) written through
// 64 KiB buffered writes. Writer k of 3 logs one level of every request i: k=0 rpc 1, k=1 rpc 1.1, k=2 rpc 1.2.1
// (level 1.2 is never logged, so every trace has a missing span). Trace ids are a function of i, so the harness knows
// them.
import fs from 'node:fs'

export const traceId = (i: number): string =>
  ((i * 2654435761) % 4294967296).toString(16).padStart(8, '0') + i.toString(16).padStart(8, '0')
export const NEEDLE_EVERY = 50_000

const RPC = ['1', '1.1', '1.2.1']
const NAMES = ['GET /checkout', 'cart.load', 'bank.authorize']

function main (): void {
  const [file, kText, bytesText] = process.argv.slice(2)
  const k = Number(kText)
  const target = Number(bytesText)
  const fd = fs.openSync(file, 'a')
  const buf = Buffer.alloc(64 * 1024)
  let used = 0
  let written = 0
  let lines = 0
  for (let i = 0; written + used < target; i++) {
    const error = i % 1000 === 999
    const msg = i % NEEDLE_EVERY === 0
      ? `needle-${i}.`
      : error ? 'upstream timeout after 3 retries' : 'request handled, everything fine'
    const level = error ? 'error' : 'info'
    const line = `{"timestamp":${Date.now()},"level":"${level}","trace_id":"${traceId(i)}","rpc_id":"${RPC[k]}",` +
      `"name":"${NAMES[k]}","duration":${i % 97},"msg":"${msg}","seq":${i}}\n`
    if (used + line.length > buf.length) {
      fs.writeSync(fd, buf, 0, used)
      written += used
      used = 0
    }
    used += buf.write(line, used, 'latin1')
    lines++
  }
  if (used > 0) { fs.writeSync(fd, buf, 0, used); written += used }
  fs.closeSync(fd)
  process.stdout.write(JSON.stringify({ bytes: written, lines }) + '\n')
}

if (require.main === module) main()
