// The `sources` limit of the limits file, through a real mount: a tenant at its limit gets no new source, the
// agent keeps that batch's bytes (and everything after it of that tenant) and sends them again, other tenants ship
// on, and a reload that raises the limit lets every kept byte through exactly once.
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { api, arrived, readSource, sleep, sources, startAgent, startServer, tempDir } from './helpers/cluster'
import { metric } from './helpers/rate'
import type { TenantRow } from '../lib/server/tenants'

t.test('a tenant at its sources limit: the new source waits, nothing is lost, a raised limit lets it through',
  async t => {
    const file = path.join(tempDir(t, 'limits'), 'limits.json')
    fs.writeFileSync(file, JSON.stringify({ tenants: { shop: { sources: 2 } } }))
    const server = await startServer(t, { args: ['--limits', file] })
    const agent = await startAgent(t, server)
    for (const d of ['shop', 'other']) fs.mkdirSync(path.join(agent.mnt, d))
    const put = (p: string, text: string): void => fs.appendFileSync(path.join(agent.mnt, p), text)
    put('shop/a.log', 'a1\n')
    put('shop/b.log', 'b1\n')
    await arrived(server, 'testnode/shop/b.log', 3)
    await arrived(server, 'testnode/shop/a.log', 3)

    put('shop/c.log', 'c1\n')
    await sleep(1500)
    put('other/x.log', 'x1\n')
    await arrived(server, 'testnode/other/x.log', 3)
    const names = (await sources(server)).map(s => s.source)
    t.notOk(names.includes('testnode/shop/c.log'), 'a third source of shop is not stored')
    t.ok(await metric(server.http, 'logfs_tenant_sources_refused_batches_total', { tenant: 'shop' }) > 0,
      'the refusal is counted for the tenant')
    const tenants = await api<{ tenants: TenantRow[] }>(server, '/v1/tenants')
    t.same(tenants.body.tenants.find(x => x.tenant === 'shop')?.sources, { count: 2, limit: 2 },
      'logfs tenants shows the tenant at its limit')

    fs.writeFileSync(file, JSON.stringify({ tenants: { shop: { sources: 3 } } }))
    await arrived(server, 'testnode/shop/c.log', 3, 30_000)
    put('shop/a.log', 'a2\n')
    await arrived(server, 'testnode/shop/a.log', 6)
    t.equal((await readSource(server, 'testnode/shop/c.log')).toString(), 'c1\n', 'the kept bytes, once')
    t.equal((await readSource(server, 'testnode/shop/a.log')).toString(), 'a1\na2\n')
  })
