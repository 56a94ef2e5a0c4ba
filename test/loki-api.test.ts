// Loki's read API on a real server: the JSON shapes Loki documents, authentication as Grafana sends it, tenant
// scoping on every endpoint, and bad queries answered 400 with their position.
import t from 'tap'
import { sparkline } from '../lib/cli/logql'
import { TOKEN, cli } from './helpers/cluster'
import { PROD_VIEWS, basic, bearer, loki, setup, T0, type Body } from './helpers/loki'

t.test('the JSON shapes of query_range and query', async t => {
  const server = await setup(t)
  const start = String(T0 * 1e6)
  const end = String((T0 + 600_000) * 1e6)
  const logs = await loki(server, 'query_range', { query: '{pod="api-1"} |= "error"', start, end, limit: '2' })
  t.equal(logs.status, 200)
  t.match(logs.body, {
    status: 'success',
    data: {
      resultType: 'streams',
      result: [{ stream: { pod: 'api-1', namespace: 'prod', container: 'app', filename: 'app.log' }, values: [] }],
    },
  })
  const values = logs.body.data.result[0].values
  t.same(values.map((v: string[]) => v[1]), [50, 40].map(i => JSON.stringify({ level: 'error', msg: `req-${i}` })),
    'backward by default: the newest first')
  t.same(values[0][0], String((T0 + 500_000) * 1e6), 'times are nanoseconds, as strings')

  const matrix = await loki(server, 'query_range', {
    query: 'sum by (level) (count_over_time({namespace="prod"} | json [1m]))',
    start: String(T0 / 1000 + 60),
    end: String(T0 / 1000 + 180),
    step: '60',
  })
  t.equal(matrix.status, 200)
  t.same(matrix.body.data.resultType, 'matrix')
  const byLevel = Object.fromEntries(matrix.body.data.result.map((r: Body) => [r.metric.level, r.values]))
  const s0 = T0 / 1000
  t.same(byLevel.info, [[s0 + 60, '6'], [s0 + 120, '5'], [s0 + 180, '6']], '[<s>, "<value>"]')
  t.same(byLevel.error, [[s0 + 120, '1']], 'a step without lines has no point')

  const time = new Date(T0 + 60_000).toISOString()
  const vector = await loki(server, 'query', { query: 'sum(rate({pod="api-1"}[1m]))', time })
  const stats = { summary: { scanLimited: false } }
  t.same(vector.body, {
    status: 'success',
    data: { resultType: 'vector', result: [{ metric: {}, value: [s0 + 60, '0.1'] }], stats },
  })
  const scalar = await loki(server, 'query', { query: '1 + 1', time: String(s0) })
  t.same(scalar.body.data, { resultType: 'scalar', result: [s0, '2'], stats })
  const instantLogs = await loki(server, 'query', { query: '{pod="api-1"}' })
  t.equal(instantLogs.status, 400, 'a log query is not an instant query')
})

t.test('labels, label values and series', async t => {
  const server = await setup(t)
  const labels = await loki(server, 'labels')
  t.same(labels.body, {
    status: 'success',
    data: ['container', 'filename', 'namespace', 'node', 'path', 'pod', 'source', 'tenant'],
  })
  t.same((await loki(server, 'label/tenant/values')).body, { status: 'success', data: ['prod', 'staging'] })
  t.same((await loki(server, 'label/pod/values', { query: '{tenant="prod"}' })).body.data, ['api-1'])
  const series = await loki(server, 'series', { 'match[]': ['{tenant="staging"}', '{pod="api-1"}'] })
  t.same(series.body, {
    status: 'success',
    data: [
      { node: 'n1', tenant: 'staging', path: 'staging/worker.log', source: 'n1/staging/worker.log' },
      {
        node: 'n1', tenant: 'prod', path: 'prod/api-1/app/app.log', source: 'n1/prod/api-1/app/app.log',
        namespace: 'prod', pod: 'api-1', container: 'app', filename: 'app.log',
      },
    ],
  })
})

t.test('POST with a form body answers as GET does; other methods and bodies are refused', async t => {
  const server = await setup(t)
  const post = async (route: string, body: string, type = 'application/x-www-form-urlencoded', method = 'POST'):
    Promise<{ status: number, text: string }> => {
    const res = await fetch(`${server.http}/loki/api/v1/${route}`,
      { method, headers: { ...bearer(TOKEN), 'content-type': type }, body })
    return { status: res.status, text: await res.text() }
  }
  const params = {
    query: 'sum by (level) (count_over_time({namespace="prod"} | json [1m]))',
    start: String(T0 / 1000 + 60), end: String(T0 / 1000 + 180), step: '60',
  }
  const got = await loki(server, 'query_range', params)
  const posted = await post('query_range', new URLSearchParams(params).toString())
  t.equal(posted.status, 200)
  t.same(JSON.parse(posted.text), got.body, 'query_range: the same answer as GET')
  const form = new URLSearchParams([['match[]', '{tenant="staging"}'], ['match[]', '{pod="api-1"}']])
  const series = await post('series', form.toString())
  t.same(JSON.parse(series.text).data.map((s: Body) => s.tenant).sort(), ['prod', 'staging'],
    'series: every match[] of the body')
  t.equal((await post('query_range', JSON.stringify(params), 'application/json')).status, 415, 'a JSON body: 415')
  t.equal((await post('labels', '', 'application/x-www-form-urlencoded', 'PUT')).status, 405, 'PUT: 405')
  const big = await post('query_range', 'query=' + 'x'.repeat(2 * 1024 * 1024))
  t.equal(big.status, 413, 'a body over 1 MiB: 413')
  t.equal((await loki(server, 'labels')).status, 200, 'the server answers on')
})

t.test('authentication and tenant scoping on every endpoint', async t => {
  const server = await setup(t)
  t.equal((await loki(server, 'labels', {}, {})).status, 401, 'no token')
  t.equal((await loki(server, 'labels', {}, bearer('wrong-token-000'))).status, 401, 'a wrong token')
  t.same((await loki(server, 'label/tenant/values', {}, basic(TOKEN))).body.data, ['prod', 'staging'], 'HTTP Basic')
  for (const [name, headers] of PROD_VIEWS) {
    t.same((await loki(server, 'label/tenant/values', {}, headers)).body.data, ['prod'], `${name}: label values`)
    t.notOk((await loki(server, 'labels', {}, headers)).body.data.includes('nothing'), `${name}: labels`)
    const series = await loki(server, 'series', { 'match[]': '{tenant=~".+"}' }, headers)
    t.same(series.body.data.map((s: Body) => s.tenant), ['prod'], `${name}: series`)
    const logs = await loki(server, 'query_range', { query: '{tenant=~".+"}', limit: '1000' }, headers)
    t.same(logs.body.data.result.map((r: Body) => r.stream.tenant), ['prod'], `${name}: query_range`)
    const query = 'sum by (tenant) (count_over_time({tenant=~".+"}[1h]))'
    const count = await loki(server, 'query', { query }, headers)
    t.same(count.body.data.result.map((r: Body) => r.metric.tenant), ['prod'], `${name}: query`)
  }
  const other = await loki(server, 'label/tenant/values', {}, { ...PROD_VIEWS[0][1], 'x-scope-orgid': 'staging' })
  t.same(other.body.data, [], 'X-Scope-OrgID cannot widen a scoped token')
})

t.test('bad queries: 400 with the position', async t => {
  const server = await setup(t)
  const bad = await loki(server, 'query_range', { query: 'sum(count_over_time({pod="api-1"}[1m]) by' })
  t.equal(bad.status, 400)
  t.match(bad.body, /parse error at line 1, column \d+/)
  t.match((await loki(server, 'query_range', { query: '{pod="api-1"}', limit: 'x' })).body, /limit must be/)
  t.match((await loki(server, 'query_range', { query: '{pod="api-1"}', start: 'yesterday' })).body,
    /start: 'yesterday' is not a time/)
  t.equal((await loki(server, 'query_range', {})).status, 400, 'no query')
  t.equal((await loki(server, 'series', { 'match[]': 'count_over_time({a="b"}[1m])' })).status, 400)
  t.equal((await loki(server, 'nothing')).status, 404)
})

t.test('logfs query', async t => {
  const server = await setup(t)
  const S = ['--server', server.http]
  const since = new Date(T0).toISOString()
  const logs = await cli(['query', '{pod="api-1"} |= "req-5"', '--since', since, '--limit', '3', ...S])
  t.equal(logs.code, 0, logs.stderr)
  t.match(logs.stdout, /^\d{4}-\d\d-\d\dT\S+ n1\/prod\/api-1\/app\/app.log \{"level":"info","msg":"req-5"\}\n/,
    'a log query prints time, source and line, oldest first')
  t.equal(logs.stdout.split('\n').length - 1, 3, '--limit')
  const until = new Date(T0 + 180_000).toISOString()
  const metric = await cli(['query', 'sum by (level) (count_over_time({pod="api-1"} | json [1m]))',
    '--since', new Date(T0 + 60_000).toISOString(), '--until', until, '--step', '1m', ...S])
  t.equal(metric.code, 0, metric.stderr)
  t.match(metric.stdout, /\{level="error"\}\n {2}\S+ {2}1\n/, 'a table per series')
  t.match(metric.stdout, /\{level="info"\}\n( {2}\S+ {2}[56]\n){3}/)
  const json = await cli(['query', 'sum(count_over_time({pod="api-1"}[1m]))', '--since', since, '--json', ...S])
  t.equal(JSON.parse(json.stdout).data.resultType, 'matrix', '--json prints the API\'s answer')
  t.equal(sparkline([0, 5, null, 10, 10]), '▁▅ ██', 'a sparkline scales between the least and greatest')
  const bad = await cli(['query', '{pod=', ...S])
  t.equal(bad.code, 2)
  t.match(bad.stderr, /400: parse error at line 1, column 6/, 'a bad query says where')
})
