// Finding things in shipped logs: sources, tail (and follow), grep, context across rotation, traces, metrics,
// tenant scoping and bad input — against a real server fed through a real mount.
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { expected, line } from './fixtures/lines'
import {
  TOKEN, append, api, arrived, cli, run, sleep, startAgent, startServer, tempDir, waitFor, writer,
} from './helpers/cluster'

t.test('sources, tail, grep and tenant scoping', async t => {
  const tokens = path.join(tempDir(t, 'tok'), 'tokens.json')
  fs.writeFileSync(tokens, JSON.stringify({ [TOKEN]: '*', 'only-prod-token': ['prod'] }))
  const server = await startServer(t, { args: ['--tokens', tokens] })
  const agent = await startAgent(t, server)
  const m = agent.mnt
  await append([
    [`${m}/prod/api-7d9/app/app.log`, 'GET / 200\nGET /slow 504 upstream timeout\n'],
    [`${m}/prod/api-7d9/app/app.log`, 'GET /x 200\nPOST /pay Timeout talking to bank\n'],
    [`${m}/staging/web-1/app/app.log`, 'staging timeout here\n'],
  ])
  await arrived(server, 'testnode/prod/api-7d9/app/app.log', 86)
  await arrived(server, 'testnode/staging/web-1/app/app.log', 21)
  const S = ['--server', server.http]

  const src = await cli(['sources', '--json', ...S])
  t.equal(src.code, 0)
  t.match(JSON.parse(src.stdout), [
    {
      source: 'testnode/prod/api-7d9/app/app.log', node: 'testnode', tenant: 'prod', path: 'prod/api-7d9/app/app.log',
      bytes: 86,
    },
    { source: 'testnode/staging/web-1/app/app.log', tenant: 'staging' },
  ])
  t.equal(JSON.parse((await cli(['sources', '--json', '--source', 'staging/**', ...S])).stdout).length, 1,
    'a glob narrows the list')
  const table = await cli(['sources', ...S])
  t.match(table.stdout, /NODE\s+TENANT\s+PATH\s+SIZE\s+LAST WRITE/)

  const tail = await cli(['tail', '-n', '2', 'prod/api-7d9/app/app.log', ...S])
  t.equal(tail.stdout, 'GET /x 200\nPOST /pay Timeout talking to bank\n', 'tail by path alone, raw lines when piped')

  const g = await cli(['grep', 'timeout', '--json', ...S])
  t.equal(g.code, 0)
  type Hit = { source: string, text: string, match: [number, number], cursor: string }
  const hits = JSON.parse(g.stdout).hits as Hit[]
  t.same(hits.map(h => h.text), ['GET /slow 504 upstream timeout', 'staging timeout here'],
    'plain text, case-sensitive')
  t.same(hits[0].match, [23, 30])
  const gi = JSON.parse((await cli(['grep', '-i', 'TIMEOUT', '--json', '--source', 'prod/**', ...S])).stdout)
    .hits as Array<{ text: string }>
  t.same(gi.map(h => h.text), ['GET /slow 504 upstream timeout', 'POST /pay Timeout talking to bank'],
    '-i and a source glob')
  const re = JSON.parse((await cli(['grep', '-E', '^(GET|POST) /\\w+ (504|200)$', '--json', ...S])).stdout)
    .hits as Array<{ text: string }>
  t.same(re.map(h => h.text), ['GET /x 200'], 'regular expressions are anchored per line')
  t.equal(JSON.parse((await cli(['grep', 'GET', '--limit', '1', '--json', ...S])).stdout).truncated, true, '--limit')
  t.equal(JSON.parse((await cli(['grep', 'timeout', '--since', '1h', '--json', ...S])).stdout).hits.length, 2,
    'since an hour ago')
  const future = new Date(Date.now() + 3600_000).toISOString()
  t.equal((await cli(['grep', 'timeout', '--since', future, ...S])).code, 1,
    'nothing since a future time: exit 1, like grep')
  const text = await cli(['grep', 'upstream', ...S])
  t.match(text.stdout, /^\d{4}-\d\d-\d\dT[^ ]+ testnode\/prod\/api-7d9\/app\/app.log@\d+:\d+ GET \/slow 504 upstream timeout\n$/, 'time, source@cursor, line')

  const scoped = { LOGFS_TOKEN: 'only-prod-token' }
  const scopedSources = await cli(['sources', '--json', ...S], scoped)
  t.same(JSON.parse(scopedSources.stdout).map((s: { tenant: string }) => s.tenant), ['prod'],
    'a scoped token lists its tenant only')
  const scopedGrep = await cli(['grep', 'timeout', '--json', ...S], scoped)
  t.same(JSON.parse(scopedGrep.stdout).hits.map((h: { source: string }) => h.source),
    ['testnode/prod/api-7d9/app/app.log'])
  const hidden = await cli(['tail', 'staging/web-1/app/app.log', ...S], scoped)
  t.equal(hidden.code, 2)
  t.match(hidden.stderr, /unknown source/, 'another tenant\'s source does not exist for it')
  const otherTenant = '/v1/context?source=testnode/staging/web-1/app/app.log&cursor=1:0'
  t.equal((await api(server, otherTenant, 'only-prod-token')).status, 404)
})

t.test('tail -f prints lines while the writer writes', async t => {
  const server = await startServer(t)
  const agent = await startAgent(t, server)
  fs.mkdirSync(path.join(agent.mnt, 'live'))
  const file = path.join(agent.mnt, 'live/app.log')
  await append([[file, 'before follow\n']])
  await arrived(server, 'testnode/live/app.log', 14)
  const follow = run(['tail', '-f', '-n', '1', '--json', 'live/app.log', '--server', server.http])
  t.teardown(() => { follow.proc.kill('SIGKILL') })
  await waitFor('the first line', () => follow.stdout.includes('before follow'))
  const w = await writer({ file, lines: 300, size: 80, prefix: 'live', delayMs: 2 }).done
  t.equal(w.lines, 300)
  await waitFor('300 followed lines', () => follow.stdout.split('\n').filter(Boolean).length >= 301)
  const got = follow.stdout.split('\n').filter(Boolean).map(l => JSON.parse(l) as { text: string })
  t.equal(got[0].text, 'before follow')
  t.ok(got.slice(1).map(l => l.text + '\n').join('') === expected('live', 300, 80),
    'every new line once, in order, while it was written')
  await sleep(200)
  t.equal(follow.stdout.split('\n').filter(Boolean).length, 301, 'nothing repeated')
})

t.test('tail -f --source GLOB follows every matching source, new ones included', async t => {
  const server = await startServer(t)
  const agent = await startAgent(t, server)
  await append([[`${agent.mnt}/many/old.log`, 'history\n']])
  await arrived(server, 'testnode/many/old.log', 8)
  const follow = run(['tail', '-f', '--source', 'many/**', '--json', '--server', server.http])
  t.teardown(() => { follow.proc.kill('SIGKILL') })
  // The follower sees lines from when its stream opened: a warm-up line, appended until it shows, says it is open.
  let warm = 0
  await waitFor('the follower to be streaming', async () => {
    if (follow.stdout.includes('"warm')) return true
    await append([[`${agent.mnt}/many/old.log`, `warm ${warm++}\n`]])
    await sleep(300)
    return false
  })
  const seen = follow.stdout.split('\n').filter(Boolean).length
  await append([
    [`${agent.mnt}/many/old.log`, 'old one more\n'],
    [`${agent.mnt}/many/new.log`, 'brand new\n'],
    [`${agent.mnt}/other/x.log`, 'not followed\n'],
  ])
  await waitFor('two lines', () => follow.stdout.split('\n').filter(Boolean).length >= seen + 2)
  await sleep(200)
  const got = follow.stdout.split('\n').filter(Boolean).map(l => JSON.parse(l) as { source: string, text: string })
    .filter(l => !l.text.startsWith('warm'))
  t.same(got.map(l => [l.source, l.text]).sort(),
    [['testnode/many/new.log', 'brand new'], ['testnode/many/old.log', 'old one more']],
    'new lines of both, no history, nothing else')
  const bad = await cli(['tail', '--source', 'many/**', '--server', server.http])
  t.equal(bad.code, 2, 'a glob without -f is refused')
})

t.test('context across a rename rotation and a copytruncate, across batches', async t => {
  const server = await startServer(t)
  const agent = await startAgent(t, server)
  fs.mkdirSync(path.join(agent.mnt, 'ctx'))
  const a = path.join(agent.mnt, 'ctx/ren.log')
  const b = path.join(agent.mnt, 'ctx/cpt.log')
  // Small delays make many small batches; rotation every 100 lines.
  await Promise.all([
    writer({ file: a, lines: 300, size: 60, prefix: 'ren', rotate: 'rename', rotateEvery: 100, delayMs: 1 }).done,
    writer({ file: b, lines: 300, size: 60, prefix: 'cpt', rotate: 'copytruncate', rotateEvery: 100, delayMs: 1 }).done,
  ])
  for (const [name, prefix] of [['ren', 'ren'], ['cpt', 'cpt']]) {
    await arrived(server, `testnode/ctx/${name}.log`, 300 * 60)
    const found = await cli(['grep', line(prefix, 100, 60).slice(0, 12), '--json', '--server', server.http])
    const g = JSON.parse(found.stdout).hits as Array<{ source: string, cursor: string }>
    t.equal(g.length, 1, `${name}: the first line after the rotation is found once`)
    const c = await cli(['context', `${g[0].source}@${g[0].cursor}`, '-B', '3', '-A', '3', '--json',
      '--server', server.http])
    t.equal(c.code, 0)
    const body = JSON.parse(c.stdout) as {
      before: Array<{ text: string }>, hit: { text: string }, after: Array<{ text: string }>
    }
    t.same(body.before.map(l => l.text), [97, 98, 99].map(n => line(prefix, n, 60).trimEnd()),
      `${name}: the lines before the rotation`)
    t.equal(body.hit.text, line(prefix, 100, 60).trimEnd())
    t.same(body.after.map(l => l.text), [101, 102, 103].map(n => line(prefix, n, 60).trimEnd()),
      `${name}: the lines after`)
  }
  const firstHit = JSON.parse((await cli(['grep', 'ren 00000000', '--json', '--server', server.http])).stdout).hits[0]
  const first = await cli(['context', `testnode/ctx/ren.log@${firstHit.cursor}`, '-B', '5', '-A', '1', '--json',
    '--server', server.http])
  t.same(JSON.parse(first.stdout).before, [], 'nothing before the first line')
})

t.test('a trace spread over three sources, with one level never logged', async t => {
  const server = await startServer(t)
  const agent = await startAgent(t, server)
  const m = agent.mnt
  const T = 'a1b2c3d4e5f60718'
  const json = (fields: Record<string, unknown>): string => JSON.stringify(fields) + '\n'
  await append([
    [`${m}/shop/api/app.log`, 'plain text mentioning trace_id" but not JSON\n'],
    [`${m}/shop/api/app.log`, json({ trace_id: T, rpc_id: '1', name: 'GET /pay', duration: 120 })],
    [`${m}/auth/svc/app.log`, json({ x_trace_id: T, x_rpc_id: '1.1', x_name: 'auth.check', x_duration: 5 })],
    [`${m}/bank/db/app.log`, json({ trace_id: 'other-trace', rpc_id: '1', name: 'unrelated' })],
    [`${m}/bank/db/app.log`, json({
      trace_id: T, rpc_id: '1.2.1', name: 'db.query', duration: 50, 'db.error': 'timeout',
    })],
    [`${m}/bank/db/app.log`, json({ trace_id: T, rpc_id: '1.2.1.1', name: 'db.retry', duration: 20 })],
  ])
  await waitFor('the trace', async () => (await api(server, `/v1/trace?id=${T}`)).status === 200 &&
    ((await api<{ lines: number }>(server, `/v1/trace?id=${T}`)).body.lines === 4))
  const tr = await cli(['trace', T, '--json', '--server', server.http])
  t.equal(tr.code, 0)
  const trace = JSON.parse(tr.stdout)
  t.equal(trace.sources.length, 3, 'three sources')
  t.match(trace.roots, [{
    rpcId: '1', name: 'GET /pay', duration: 120, missing: false, error: false, source: 'testnode/shop/api/app.log',
    children: [
      { rpcId: '1.1', name: 'auth.check', duration: 5, source: 'testnode/auth/svc/app.log' },
      {
        rpcId: '1.2',
        missing: true,
        children: [{
          rpcId: '1.2.1', name: 'db.query', error: true, children: [{ rpcId: '1.2.1.1', name: 'db.retry' }],
        }],
      },
    ],
  }], 'the tree, with the missing level 1.2 in its place')
  const text = await cli(['trace', T, '--server', server.http])
  t.match(text.stdout, /1\.2 \(missing/)
  t.match(text.stdout, /1\.2\.1 db\.query 50ms ERROR/)
  const none = await cli(['trace', 'no-such-trace', '--server', server.http])
  t.equal(none.code, 2)
  t.match(none.stderr, /no lines of trace/)
})

t.test('metrics and probes move when data flows', async t => {
  const server = await startServer(t)
  const agent = await startAgent(t, server, ['--metrics-listen', '127.0.0.1:0'])
  const mounted = agent.events.find(e => e.event === 'mounted') as { metrics: { port: number } }
  const agentUrl = `http://127.0.0.1:${mounted.metrics.port}`
  const metric = async (url: string, name: string): Promise<number> => {
    const text = await (await fetch(url + '/metrics')).text()
    const m = new RegExp(`^${name.replace(/[{}"]/g, c => '\\' + c)} (\\S+)$`, 'm').exec(text)
    return m ? Number(m[1]) : 0
  }
  t.equal((await fetch(agentUrl + '/healthz')).status, 200)
  t.equal((await fetch(agentUrl + '/readyz')).status, 200)
  t.equal((await fetch(server.http + '/readyz')).status, 200)
  await append([[`${agent.mnt}/metered/app.log`, 'one\ntwo\nthree\n']])
  await arrived(server, 'testnode/metered/app.log', 14)
  // The store lists bytes once written, before the fsync that its ack waits for: the agent may count it later.
  await waitFor('the agent to count the ack',
    async () => await metric(agentUrl, 'logfs_agent_bytes_acked_total') >= 14)
  t.equal(await metric(agentUrl, 'logfs_agent_bytes_in_total{tenant="metered"}'), 14)
  t.equal(await metric(agentUrl, 'logfs_agent_lines_in_total{tenant="metered"}'), 3)
  t.equal(await metric(agentUrl, 'logfs_agent_bytes_acked_total'), 14)
  t.ok(await metric(agentUrl, 'logfs_agent_ack_duration_seconds_count') >= 1, 'ack latency observed')
  t.ok(await metric(agentUrl, 'process_resident_memory_bytes') > 1e6)
  t.equal(await metric(server.http, 'logfs_server_bytes_stored_total'), 14)
  t.ok(await metric(server.http, 'logfs_store_bytes') > 14)
  await cli(['grep', 'two', '--server', server.http])
  t.equal(await metric(server.http, 'logfs_query_duration_seconds_count{endpoint="grep"}'), 1, 'query latency observed')
})

t.test('bad input to the query commands: a clear message and exit 2', async t => {
  const server = await startServer(t)
  const agent = await startAgent(t, server)
  await append([[`${agent.mnt}/x/app.log`, 'hello\n']])
  await arrived(server, 'testnode/x/app.log', 6)
  const S = ['--server', server.http]
  const cases: Array<[string[], RegExp]> = [
    [['tail', 'no/such.log', ...S], /unknown source no\/such.log/],
    [['context', 'x/app.log@nonsense', ...S], /is not SOURCE@CURSOR/],
    [['context', 'x/app.log@5:5', ...S], /not a retained byte/],
    [['grep', '([unclosed', '-E', ...S], /invalid regular expression/],
    [['grep', 'hello', '--until', '2001-01-01T00:00:00Z', ...S], /range ends before the oldest retained data/],
    [['grep', 'hello', '--since', 'the dawn of time', ...S], /--since: 'the dawn of time' is not a time/],
    [['tail', '-n', 'many', 'x/app.log', ...S], /--lines: 'many' is not a whole number/],
  ]
  for (const [args, message] of cases) {
    const r = await cli(args)
    t.equal(r.code, 2, `logfs ${args.slice(0, 3).join(' ')} exits 2`)
    t.match(r.stderr, message)
  }
})
