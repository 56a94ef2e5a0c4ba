// The demo's application: writes JSON log lines (trace_id + rpc_id, the fields `logfs trace` reads) into a few files
// with one write() per line, like a logger with immediate flush. Runs as its own process: never write into a mount
// from the process that serves it.
import fs from 'node:fs'
import path from 'node:path'
import { randomBytes } from 'node:crypto'

const [dir, rateText] = process.argv.slice(2)
const rate = Number(rateText ?? 200)
const files = ['shop/checkout/api.log', 'shop/checkout/worker.log', 'billing/invoices/app.log']
let fds: number[] = []
let lines = 0
let bytes = 0
let timer: NodeJS.Timeout | undefined

function request (): void {
  const traceId = randomBytes(8).toString('hex')
  const calls: Array<[string, string]> = [
    ['1', 'GET /checkout'], ['1.1', 'cart.load'], ['1.2', 'payment.charge'], ['1.2.1', 'bank.authorize'],
  ]
  for (const [rpcId, name] of calls) {
    const fd = fds[lines % fds.length]
    const duration = Math.round(Math.random() * 50)
    const timestamp = new Date().toISOString()
    const record = { timestamp, level: 'info', trace_id: traceId, rpc_id: rpcId, name, duration }
    const line = JSON.stringify({ ...record, msg: `${name} done` }) + '\n'
    fs.writeSync(fd, line)
    lines++
    bytes += Buffer.byteLength(line)
  }
}

// Started before the mount exists; `logfs up` says "go" on stdin once it is mounted.
process.stdin.once('data', () => {
  fds = files.map(f => {
    fs.mkdirSync(path.join(dir, path.dirname(f)), { recursive: true })
    return fs.openSync(path.join(dir, f), 'a')
  })
  timer = setInterval(() => { for (let i = 0; i < Math.max(1, Math.round(rate / 40)); i++) request() }, 100)
})
// Our stdin closes when `logfs up` is gone: stop too, rather than write into a mount nobody serves.
process.stdin.once('end', () => process.kill(process.pid, 'SIGTERM'))
process.on('SIGTERM', () => {
  clearInterval(timer)
  for (const fd of fds) fs.closeSync(fd)
  process.stdout.write(JSON.stringify({ lines, bytes }) + '\n')
  process.exit(0)
})
