// Per-tenant collection settings from a watched JSON file (a ConfigMap in Kubernetes).
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import {
  append, arrived, cli, freePort, sources, startAgent, startServer, tempDir, waitFor, writer,
} from './helpers/cluster'

const write = (file: string, doc: unknown): void => fs.writeFileSync(file, JSON.stringify(doc))

t.test('skip, ship, owner and full-ring policy per tenant; changes apply without a restart', async t => {
  const server = await startServer(t)
  const config = path.join(tempDir(t, 'cfg'), 'collection.json')
  write(config, {
    version: 1,
    tenants: {
      '*': { fullPolicy: 'block' },
      shop: { skip: ['**/debug.log'], owner: '65534:65534' },
      only: { ship: ['**/app.log'] },
    },
  })
  const agent = await startAgent(t, server, ['--config', config])
  const m = agent.mnt
  await append([
    [`${m}/shop/web/debug.log`, 'noise\n'],
    [`${m}/shop/web/app.log`, 'kept\n'],
    [`${m}/only/svc/other.log`, 'not wanted\n'],
    [`${m}/only/svc/app.log`, 'wanted\n'],
  ])
  await arrived(server, 'testnode/only/svc/app.log', 7)
  await arrived(server, 'testnode/shop/web/app.log', 5)
  const names = (await sources(server)).map(s => s.source)
  t.notOk(names.includes('testnode/shop/web/debug.log'), 'skip: not shipped')
  t.notOk(names.includes('testnode/only/svc/other.log'), 'ship list: only matching files are shipped')
  t.equal(fs.readFileSync(`${m}/shop/web/debug.log`, 'utf8'), 'noise\n', 'a skipped file still works as a file')
  t.equal(fs.statSync(`${m}/shop/web`).uid, 65534, 'directories in the tenant get its owner')
  t.equal(fs.statSync(`${m}/shop`).uid, 65534, 'the tenant directory too')
  t.equal(fs.statSync(`${m}/only`).uid, 0, 'other tenants keep the inherited owner')

  write(config, { version: 1, tenants: { shop: { skip: ['**/trace.log'] } } })
  await waitFor('the reload', () => /collection settings reloaded/.test(agent.stderr))
  await append([[`${m}/shop/web2/debug.log`, 'now shipped\n']])
  await arrived(server, 'testnode/shop/web2/debug.log', 12)
  t.pass('a changed skip list applies to files created after it')

  fs.writeFileSync(config, '{ not json')
  await waitFor('the complaint', () => /not reloaded, keeping the last good ones/.test(agent.stderr))
  await append([[`${m}/shop/web3/debug.log`, 'still shipped\n']])
  await arrived(server, 'testnode/shop/web3/debug.log', 14)
  t.pass('a broken edit keeps the last good settings')
})

t.test('a tenant set to drop never waits, in a ring of its own size', async t => {
  const port = await freePort()
  const config = path.join(tempDir(t, 'cfg'), 'collection.json')
  write(config, { version: 1, tenants: { noisy: { fullPolicy: 'drop', ringSize: '1MiB' } } })
  const agent = await startAgent(t, `ws://127.0.0.1:${port}`, ['--config', config, '--memory', '4MiB', '--ring-size', '2MiB', '--drain-timeout', '1s'])
  fs.mkdirSync(path.join(agent.mnt, 'noisy'))
  const r = await writer({ file: path.join(agent.mnt, 'noisy/flood.log'), lines: 15000, size: 200, prefix: 'n' }).done
  t.equal(r.lines, 15000, 'the noisy tenant never waits')
  const report = await agent.stop()
  const tenants = report.tenants as Array<{ tenant: string, ringBytes: number, droppedBytes: number }>
  const noisy = tenants.find(x => x.tenant === 'noisy')!
  t.equal(noisy.ringBytes, 1024 * 1024, 'its ring has the configured size')
  t.ok(noisy.droppedBytes > 1_000_000, `it dropped ${noisy.droppedBytes} bytes`)
})

t.test('tenants beyond --memory / --ring-size still get rings; --local-only files stay local', async t => {
  const server = await startServer(t)
  const agent = await startAgent(t, server, ['--memory', '2MiB', '--ring-size', '1MiB', '--local-only', '**/*.tmp'])
  await append([[`${agent.mnt}/a/x.log`, 'a\n'], [`${agent.mnt}/b/x.log`, 'b\n']])
  fs.mkdirSync(path.join(agent.mnt, 'c'), { recursive: true })
  const r = await writer({ file: path.join(agent.mnt, 'c/x.log'), lines: 1, size: 50, prefix: 'c' }).done
  t.notOk(r.error, 'the third tenant writes: rings are carved at their cap, the budget bounds bytes held')
  await arrived(server, 'testnode/c/x.log', 50)
  t.notMatch(agent.stderr, /gets no ring/)
  await arrived(server, 'testnode/a/x.log', 2)
  await arrived(server, 'testnode/b/x.log', 2)
  await append([[`${agent.mnt}/a/scratch.tmp`, 'kept local\n'], [`${agent.mnt}/a/y.log`, 'shipped\n']])
  await arrived(server, 'testnode/a/y.log', 8)
  t.notOk((await sources(server)).some(s => s.source.endsWith('.tmp')), '--local-only globs are not shipped')
})

t.test('a bad settings file is refused at start', async t => {
  const config = path.join(tempDir(t, 'cfg'), 'collection.json')
  const mnt = tempDir(t, 'mnt')
  for (const [doc, message] of [
    ['{', /not JSON/],
    [JSON.stringify({ version: 2, tenants: {} }), /"version" must be 1/],
    [JSON.stringify({ version: 1, tenants: { a: { fullPolicy: 'sometimes' } } }), /fullPolicy must be "block" or "drop"/],
    [JSON.stringify({ version: 1, tenants: { a: { ringsize: '1MiB' } } }), /tenants\.a\.ringsize is not a setting/],
    [JSON.stringify({ version: 1, tenants: { a: { owner: 'me' } } }), /owner must be "UID:GID"/],
  ] as Array<[string, RegExp]>) {
    fs.writeFileSync(config, doc)
    const r = await cli(['mount', mnt, '--server', 'ws://127.0.0.1:1', '--config', config, '--no-supervise'])
    t.equal(r.code, 2)
    t.match(r.stderr, message)
  }
})
