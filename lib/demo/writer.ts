// The demo's application: a small shop of services, each pod writing JSON log lines into its own file under the
// Kubernetes layout `<namespace>/<pod>/<container>/<file>`, one write() per line, like a logger with immediate
// flush. Every checkout is a trace across services (trace_id + rpc_id, the fields `logfs trace` reads) with a
// `duration` in ms per call; some calls are slow (warn) and some fail (error, up the call chain), so search,
// levels, a chart and a failed trace all have something to show. Runs as its own process: never write into a
// mount from the process that serves it.
import fs from 'node:fs'
import path from 'node:path'
import { randomBytes } from 'node:crypto'

const [dir, rateText] = process.argv.slice(2)
const rate = Number(rateText ?? 200)

/** A service's pods: each its own file, under `<namespace>/<pod>/<container>/app.log`. */
const SERVICES: Record<string, { namespace: string, container: string, pods: string[] }> = {
  frontend: { namespace: 'shop', container: 'web', pods: ['frontend-7d9f6-abc12', 'frontend-7d9f6-xk2p9'] },
  cart: { namespace: 'shop', container: 'cart', pods: ['cart-5c8b4-q7w3e'] },
  payment: { namespace: 'shop', container: 'payment', pods: ['payment-6f4d8-9pq7z', 'payment-6f4d8-m2v6t'] },
  bank: { namespace: 'billing', container: 'gateway', pods: ['bank-gw-84bd7-r3n8s'] },
  invoices: { namespace: 'billing', container: 'worker', pods: ['invoices-59c7f-t6w2v'] },
}

/** One call of a checkout: its rpc id, the service answering it, its name, and the calls it makes. */
interface Call { rpcId: string, service: string, name: string, calls: Call[] }
const CHECKOUT: Call = {
  rpcId: '1', service: 'frontend', name: 'GET /checkout', calls: [
    { rpcId: '1.1', service: 'cart', name: 'cart.load', calls: [] },
    {
      rpcId: '1.2', service: 'payment', name: 'payment.charge', calls: [
        { rpcId: '1.2.1', service: 'bank', name: 'bank.authorize', calls: [] },
      ],
    },
    { rpcId: '1.3', service: 'invoices', name: 'invoice.create', calls: [] },
  ],
}
/** Why a call fails, now and then, by the service failing it. */
const FAILURES: Record<string, string[]> = {
  bank: ['card declined', 'upstream timeout after 2000ms', 'insufficient funds'],
  cart: ['redis: connection refused'],
}
const SLOW_MS = 500

const fds = new Map<string, number>()
let lines = 0
let bytes = 0
let timer: NodeJS.Timeout | undefined

const pick = <T>(xs: T[]): T => xs[Math.floor(Math.random() * xs.length)]

/** A call's own time in ms: mostly tens of ms, with a long tail. */
const latency = (): number => Math.round(5 + 20 * Math.exp(Math.random() * 2.2) * (Math.random() < 0.03 ? 8 : 1))

function write (service: string, record: Record<string, unknown>): void {
  const { namespace, container, pods } = SERVICES[service]
  const file = path.join(namespace, pick(pods), container, 'app.log')
  let fd = fds.get(file)
  if (fd === undefined) {
    fs.mkdirSync(path.join(dir, path.dirname(file)), { recursive: true })
    fds.set(file, fd = fs.openSync(path.join(dir, file), 'a'))
  }
  const line = JSON.stringify({ timestamp: new Date().toISOString(), service, ...record }) + '\n'
  fs.writeSync(fd, line)
  lines++
  bytes += Buffer.byteLength(line)
}

/**
 * Runs `call` and the calls below it; logs one line per call, children first (a call logs when it returns), and
 * returns its duration and whether it failed. A failed call fails its caller.
 */
function run (call: Call, traceId: string, failAt: string | null): { duration: number, failed: boolean } {
  let duration = latency()
  let failed = call.rpcId === failAt
  for (const c of call.calls) {
    const r = run(c, traceId, failAt)
    duration += r.duration
    failed ||= r.failed
    // Nothing is invoiced for a failed payment.
    if (r.failed) break
  }
  const base = { trace_id: traceId, rpc_id: call.rpcId, name: call.name, duration }
  if (call.rpcId === failAt) {
    write(call.service, { level: 'error', ...base, error: pick(FAILURES[call.service]), msg: `${call.name} failed` })
  } else if (failed) {
    write(call.service, { level: 'error', ...base, error: 'a call below failed', msg: `${call.name} failed` })
  } else if (duration > SLOW_MS) {
    write(call.service, { level: 'warn', ...base, msg: `${call.name} slow: ${duration} ms` })
  } else {
    write(call.service, { level: 'info', ...base, msg: `${call.name} done` })
  }
  return { duration, failed }
}

function request (): void {
  const traceId = randomBytes(8).toString('hex')
  // About 3 checkouts in 100 fail at the bank, 1 in 100 at the cart.
  const r = Math.random()
  run(CHECKOUT, traceId, r < 0.03 ? '1.2.1' : r < 0.04 ? '1.1' : null)
  if (Math.random() < 0.05) write('cart', { level: 'debug', msg: 'cache refreshed', entries: Math.floor(r * 1000) })
}

// Started before the mount exists; `logfs up` says "go" on stdin once it is mounted.
process.stdin.once('data', () => {
  // Five calls (lines) per checkout, ten ticks a second.
  timer = setInterval(() => { for (let i = 0; i < Math.max(1, Math.round(rate / 50)); i++) request() }, 100)
})
// Our stdin closes when `logfs up` is gone: stop too, rather than write into a mount nobody serves.
process.stdin.once('end', () => process.kill(process.pid, 'SIGTERM'))
process.on('SIGTERM', () => {
  clearInterval(timer)
  for (const fd of fds.values()) fs.closeSync(fd)
  process.stdout.write(JSON.stringify({ lines, bytes }) + '\n')
  process.exit(0)
})
