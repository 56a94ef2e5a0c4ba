// The agent's own HTTP endpoint for Prometheus and Kubernetes probes: /metrics, /healthz, /readyz.
import http from 'node:http'
import { addProcessMetrics, type Registry } from '../metrics/registry'
import type { AgentReport } from './report'

export function registerAgentMetrics (m: Registry, fresh: () => AgentReport): void {
  // One report per scrape, not one per metric: a report walks the whole tree.
  let cached: { at: number, report: AgentReport } | null = null
  const report = (): AgentReport => {
    if (!cached || Date.now() - cached.at > 100) cached = { at: Date.now(), report: fresh() }
    return cached.report
  }
  // Per-tenant figures, one sample per tenant the report lists.
  const perTenant = (pick: (t: AgentReport['tenants'][number]) => number) => () =>
    report().tenants.map(t => [{ tenant: t.tenant }, pick(t)] as [Record<string, string>, number])
  const counter = (name: string, help: string, pick: Parameters<typeof perTenant>[0]): void =>
    m.counter(name, help, perTenant(pick), ['tenant'])
  const gauge = (name: string, help: string, pick: Parameters<typeof perTenant>[0]): void =>
    m.gauge(name, help, perTenant(pick), ['tenant'])
  counter('logfs_agent_bytes_in_total', 'Bytes applications wrote that entered a ring.', t => t.bytesIn)
  counter('logfs_agent_lines_in_total', 'Newlines in the bytes that entered a ring.', t => t.linesIn)
  counter('logfs_agent_writes_total', 'Write requests received from the kernel.', t => t.writes)
  counter('logfs_agent_bytes_dropped_total', 'Bytes dropped because the ring was full (drop policy).',
    t => t.droppedBytes)
  counter('logfs_agent_writes_blocked_total', 'Writes that had to wait for ring space (block policy).',
    t => t.blockedWrites)
  gauge('logfs_agent_writes_waiting', 'Writes waiting for ring space now.', t => t.waiting)
  gauge('logfs_agent_ring_fill_ratio', 'Fraction of the tenant ring holding unacknowledged bytes.',
    t => t.ringUsed / t.ringBytes)
  gauge('logfs_agent_ring_held_bytes', 'Unacknowledged bytes the tenant ring holds (resident memory).',
    t => t.ringUsed)
  gauge('logfs_agent_ring_borrowed_bytes', 'Bytes the tenant holds past its reserve, on loan from the pool.',
    t => t.ringBorrowed)
  m.gauge('logfs_agent_memory_pool_bytes', 'The pool tenants borrow from: --memory less every tenant\'s reserve.',
    () => report().pool.bytes)
  m.gauge('logfs_agent_memory_pool_free_bytes', 'Bytes of the pool not lent now.', () => report().pool.free)
  m.counter('logfs_agent_bytes_sent_total', 'Ring bytes handed to shipping workers, resends included.',
    () => report().ship.sentBytes)
  m.counter('logfs_agent_bytes_acked_total', 'Ring bytes the server acknowledged as durable.',
    () => report().ship.shippedBytes)
  m.counter('logfs_agent_wire_bytes_total', 'Bytes sent on the wire for acknowledged batches.',
    () => report().ship.wireBytes)
  m.counter('logfs_agent_batches_total', 'Batches acknowledged.', () => report().ship.batches)
  m.counter('logfs_agent_send_failures_total', 'Failed sends (server away, refused, timed out); each is retried.',
    () => report().ship.failures)
  m.counter('logfs_agent_tenant_paused_seconds_total',
    "Seconds a tenant's shipping was paused because the server throttled it (over its ingest rate).",
    () => Object.entries(report().ship.pausedSeconds).map(([tenant, s]) => [{ tenant }, s]), ['tenant'])
  m.gauge('logfs_agent_connected', '1 when the last send succeeded.', () => report().ship.connected ? 1 : 0)
  m.gauge('logfs_agent_pending_bytes', 'Bytes accepted and not yet acknowledged, waiting writes included.',
    () => report().pendingBytes)
  m.counter('logfs_agent_takeovers_total',
    'Agents that took the mount over from one that died or was upgraded, open files kept working.',
    () => report().handover.takeovers)
  m.counter('logfs_agent_handover_fallbacks_total',
    'Handovers given up for a new mount, which broke the open files on it (the reason is logged).',
    () => report().handover.renewals)
  addProcessMetrics(m)
}

export class AgentHttp {
  private constructor (private readonly server: http.Server, readonly address: { host: string, port: number }) {}

  static listen (metrics: Registry, at: { host: string, port: number }, healthy: () => boolean,
    ready: () => boolean): Promise<AgentHttp> {
    const server = http.createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname
      const status = (ok: boolean): void => {
        res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ ok }) + '\n')
      }
      if (path === '/metrics') metrics.serve(res)
      else if (path === '/healthz') status(healthy())
      else if (path === '/readyz') status(ready())
      else {
        res.writeHead(404, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ error: 'try /metrics, /healthz or /readyz' }) + '\n')
      }
    })
    return new Promise((resolve, reject) => {
      server.once('error', (err) => reject(new Error(`--metrics-listen ${at.host}:${at.port}: ${err.message}`)))
      server.listen(at.port, at.host, () => {
        const addr = server.address() as { address: string, port: number }
        resolve(new AgentHttp(server, { host: addr.address, port: addr.port }))
      })
    })
  }

  close (): Promise<void> {
    this.server.closeAllConnections()
    return new Promise(resolve => this.server.close(() => resolve()))
  }
}
