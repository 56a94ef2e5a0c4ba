// `logfs tenants` and GET /v1/tenants: each tenant's use against its limits, and a token sees only its tenants.
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { encodeFrame } from '../lib/wire/frames'
import type { TenantRow } from '../lib/server/tenants'
import { batch, connect, exchange } from './helpers/ingest'
import { TOKEN, api, cli, startServer, tempDir } from './helpers/cluster'

const rec = (p: string, offset: number, text: string, ts = Date.now()): unknown[] => [p, offset, ts, Buffer.from(text)]

t.test('tenants: use against limits, per token', async t => {
  const dir = tempDir(t, 'tenants')
  const tokens = path.join(dir, 'tokens.json')
  fs.writeFileSync(tokens, JSON.stringify({ [TOKEN]: '*', 'shop-token': ['shop'] }))
  const limits = path.join(dir, 'limits.json')
  fs.writeFileSync(limits, JSON.stringify({
    default: { sources: 100, retention: { size: '1GiB', age: '2d' } },
    tenants: { shop: { ingest: '1MiB/s', burst: '4MiB', retention: { size: '10MiB' } }, idle: { queries: 2 } },
  }))
  const server = await startServer(t, { args: ['--tokens', tokens, '--limits', limits] })
  const ws = await connect(server.ws, TOKEN)
  const old = Date.now() - 3_600_000
  const sent: Array<[string, unknown[]]> = [
    ['shop', [rec('shop/a.log', 0, 'one\n', old), rec('shop/b.log', 0, 'two\n')]],
    ['web', [rec('web/c.log', 0, 'x'.repeat(99) + '\n')]],
  ]
  for (const [i, [tenant, recs]] of sent.entries()) {
    t.match((await exchange(ws, encodeFrame(batch(i + 1, tenant, recs), false))).frame, { t: 'ack' })
  }
  ws.close()

  const all = await api<{ tenants: TenantRow[] }>(server, '/v1/tenants')
  t.same(all.body.tenants.map(r => r.tenant), ['idle', 'shop', 'web'], 'tenants with data, and with their own limits')
  const shop = all.body.tenants.find(r => r.tenant === 'shop')!
  t.match(shop, {
    ingest: { limit: 1024 * 1024, burst: 4 * 1024 * 1024 },
    stored: { bytes: 8, oldest: old, retentionBytes: 10 * 1024 * 1024, retentionAgeMs: 2 * 86_400_000 },
    sources: { count: 2, limit: 100 },
    queries: { queued: 0, limit: 4, scanLimit: null },
    throttledSeconds: 0,
  })
  t.ok(shop.ingest.bytesPerSec > 0, 'what it sent this minute shows as a rate')
  t.match(all.body.tenants.find(r => r.tenant === 'web'), { ingest: { limit: null }, stored: { bytes: 100 } })
  t.match(all.body.tenants.find(r => r.tenant === 'idle'),
    { stored: { bytes: 0, oldest: null }, queries: { limit: 2 } })

  const mine = await cli(['tenants', '--json', '--server', server.http], { LOGFS_TOKEN: 'shop-token' })
  t.equal(mine.code, 0, mine.stderr)
  t.same((JSON.parse(mine.stdout) as TenantRow[]).map(r => r.tenant), ['shop'], 'a tenant token sees its tenant only')
  const table = await cli(['tenants', '--server', server.http])
  t.equal(table.code, 0, table.stderr)
  const lines = table.stdout.trimEnd().split('\n')
  t.match(lines[0], /^TENANT\s+INGEST 1m \/ LIMIT\s+STORED \/ RETENTION\s+OLDEST \/ AGE LIMIT\s+SOURCES\s+THROTTLED\s+QUEUED$/)
  t.match(lines.find(l => l.startsWith('shop')), /^shop\s+[\d.]+ (B|KiB)\/s \/ 1\.0 MiB\/s\s+8 B \/ 10\.0 MiB\s+\S+ \/ 2d\s+2 \/ 100\s+0 s\s+0 \(4 at once\)$/)
  t.equal(lines.length, 4, 'a header and three tenants')
  const refused = await cli(['tenants', '--server', server.http], { LOGFS_TOKEN: 'wrong' })
  t.equal(refused.code, 1, 'a wrong token fails')
})
