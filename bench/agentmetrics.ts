// What the benchmark reads from a logfs agent's /metrics (Prometheus text): bytes on the wire and ring bytes in
// use. Only names the agent exports are read, and a missing one is null rather than an error: the agent's
// internals are being replaced, and the benchmark must run against whichever agent is built.

/**
 * Every sample of the exposition, summed over labels (e.g. over tenants). A metric declared without samples is 0:
 * a per-tenant gauge has none before the first tenant exists.
 */
export async function scrape (port: number): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    const declared = /^# TYPE (\S+) /.exec(line)
    if (declared) out.set(declared[1], out.get(declared[1]) ?? 0)
    const m = /^([a-zA-Z_:][\w:]*)(?:\{[^}]*\})? (\S+)$/.exec(line)
    if (m) out.set(m[1], (out.get(m[1]) ?? 0) + Number(m[2]))
  }
  return out
}

export async function agentMetric (port: number, name: string): Promise<number | null> {
  return (await scrape(port)).get(name) ?? null
}

/**
 * Ring bytes holding data not yet acknowledged, all tenants together. An agent that exports the bytes directly is
 * read as is; today's agent exports a fill ratio per tenant, so the sum of ratios is scaled by the ring size the
 * benchmark mounted with (every tenant gets that size: the benchmark gives no per-tenant settings).
 */
export async function ringInUse (port: number, ringSize: number): Promise<number | null> {
  const m = await scrape(port)
  const bytes = m.get('logfs_agent_ring_used_bytes')
  if (bytes !== undefined) return bytes
  const ratio = m.get('logfs_agent_ring_fill_ratio')
  return ratio === undefined ? null : Math.round(ratio * ringSize)
}
