// Each tenant the token covers, against its limits: ingest over the last minute, stored bytes and oldest data
// against retention, sources, throttled seconds and queued queries (GET /v1/tenants).
import { h } from 'preact'
import htm from 'htm'
import type { TenantRow } from './api'
import { size, time } from './format'

const html = htm.bind(h)

/** "used / limit", or the use alone where no limit is set. */
const against = (used: string, limit: number | null, fmt: (n: number) => string): string =>
  limit === null ? used : `${used} / ${fmt(limit)}`
const rate = (n: number): string => `${size(n)}/s`
/** A retention age in days, or hours below a day. */
const age = (ms: number): string =>
  ms >= 86_400_000 ? `${Math.round(ms / 8_640_000) / 10} d` : `${Math.round(ms / 360_000) / 10} h`

export function Tenants ({ tenants }: { tenants: TenantRow[] | null }) {
  if (tenants === null) return html`<p class="muted">loading tenants…</p>`
  if (tenants.length === 0) return html`<p class="muted">no tenants yet</p>`
  return html`<table class="tenants">
    <thead><tr><th>tenant</th><th>ingest (1 min) / limit</th><th>stored / retention</th><th>oldest / max age</th>
      <th>sources</th><th>throttled</th><th>queued queries</th></tr></thead>
    <tbody>${tenants.map(t => html`<tr key=${t.tenant}>
      <td>${t.tenant}</td>
      <td class="num">${against(rate(t.ingest.bytesPerSec), t.ingest.limit, rate)}</td>
      <td class="num">${against(size(t.stored.bytes), t.stored.retentionBytes, size)}</td>
      <td>${t.stored.oldest === null ? '–' : time(t.stored.oldest)} / ${age(t.stored.retentionAgeMs)}</td>
      <td class="num">${against(String(t.sources.count), t.sources.limit, String)}</td>
      <td class="num">${t.throttledSeconds} s</td>
      <td class="num">${t.queries.queued} (${t.queries.limit} at once)</td>
    </tr>`)}</tbody>
  </table>`
}
