// The routes of Loki's read API that Grafana's Explore and Logs Drilldown call besides queries, on a real
// server: index/stats, index/volume and volume_range, patterns, detected_labels and detected_fields, buildinfo,
// drilldown-limits and the data source's test query, in Loki's shapes; tenant scoping on each; bad queries.
import t from 'tap'
import { loki, PROD_VIEWS, setup, T0, type Body } from './helpers/loki'

const start = String(T0 * 1e6)
const end = String((T0 + 600_000) * 1e6)
const ALL = '{tenant=~".+"}'
const s0 = T0 / 1000

t.test('index/stats', async t => {
  const server = await setup(t)
  const all = await loki(server, 'index/stats', { query: ALL, start, end })
  t.equal(all.status, 200)
  // 60 JSON lines of 29 to 32 bytes and 10 logfmt lines; one entry (a Loki chunk) per record stored.
  t.same(all.body, { streams: 2, chunks: 70, entries: 70, bytes: all.body.bytes })
  const prod = await loki(server, 'index/stats', { query: '{pod="api-1"}', start, end: String((T0 + 95_000) * 1e6) })
  // Lines 0 to 9: one error line of 32 bytes with its newline, nine info lines of 31.
  t.same(prod.body, { streams: 1, chunks: 10, entries: 10, bytes: 32 + 9 * 31 }, 'only the entries in range')
  const none = await loki(server, 'index/stats', { query: '{pod="nothing"}', start, end })
  t.same(none.body, { streams: 0, chunks: 0, entries: 0, bytes: 0 })
})

t.test('index/volume and volume_range', async t => {
  const server = await setup(t)
  const stats = (await loki(server, 'index/stats', { query: '{namespace="prod"}', start, end })).body
  const volume = await loki(server, 'index/volume', { query: ALL, start, end })
  t.equal(volume.status, 200)
  t.equal(volume.body.status, 'success')
  t.equal(volume.body.data.resultType, 'vector')
  const byTenant = Object.fromEntries(volume.body.data.result.map((r: Body) => [r.metric.tenant, r.value]))
  t.same(Object.keys(volume.body.data.result[0].metric), ['tenant'], 'grouped by the labels the selector names')
  t.same(byTenant.prod, [s0 + 600, String(stats.bytes)], '[<s>, "<bytes>"] at the end')
  t.equal(volume.body.data.result[0].metric.tenant, 'prod', 'the largest first')
  const limited = await loki(server, 'index/volume', { query: ALL, start, end, limit: '1' })
  t.equal(limited.body.data.result.length, 1, 'limit')
  const targetLabels = 'pod,container'
  const targeted = await loki(server, 'index/volume', { query: '{namespace="prod"}', start, end, targetLabels })
  t.same(targeted.body.data.result.map((r: Body) => r.metric), [{ pod: 'api-1', container: 'app' }], 'targetLabels')
  const labels = await loki(server, 'index/volume', { query: ALL, start, end, aggregateBy: 'labels' })
  const names = labels.body.data.result.map((r: Body) => Object.entries(r.metric)[0])
  t.ok(names.some(([k, v]: string[]) => k === 'pod' && v === ''), 'aggregateBy=labels: {<label>=""}')

  const range = await loki(server, 'index/volume_range', { query: '{pod="api-1"}', start, end, step: '300' })
  t.equal(range.body.data.resultType, 'matrix')
  const [series] = range.body.data.result
  t.same(series.metric, { pod: 'api-1' })
  t.same(series.values.map((v: [number, string]) => v[0]), [s0, s0 + 300, s0 + 600], 'a point per step')
  t.equal(series.values.reduce((n: number, v: [number, string]) => n + Number(v[1]), 0), stats.bytes,
    'the steps add up to the range')
  t.equal((await loki(server, 'index/volume', { query: ALL, aggregateBy: 'pods' })).status, 400)
})

t.test('patterns', async t => {
  const server = await setup(t)
  const res = await loki(server, 'patterns', { query: ALL, start, end, step: '300' })
  t.equal(res.status, 200)
  t.equal(res.body.status, 'success')
  const byPattern = Object.fromEntries(res.body.data.map((p: Body) => [p.pattern, p.samples]))
  t.same(byPattern['{"level":"info","msg":"<_>"}'], [[s0, 27], [s0 + 300, 27]], '[<s>, <count>] per step')
  t.same(byPattern['{"level":"error","msg":"<_>"}'], [[s0, 3], [s0 + 300, 3]])
  t.same(byPattern['job=worker took=<_> n=<_>'], [[s0, 5], [s0 + 300, 5]])
  t.equal(res.body.data[0].pattern, '{"level":"info","msg":"<_>"}', 'the most frequent first')
  const filtered = await loki(server, 'patterns', { query: `${ALL} |= "error"`, start, end })
  t.same(filtered.body.data.map((p: Body) => p.pattern), ['{"level":"error","msg":"<_>"}'], 'a pipeline filters')
})

t.test('detected_labels and detected_fields', async t => {
  const server = await setup(t)
  const labels = await loki(server, 'detected_labels', { query: ALL, start, end })
  t.equal(labels.status, 200)
  const cardinality = Object.fromEntries(labels.body.detectedLabels.map((l: Body) => [l.label, l.cardinality]))
  t.same(cardinality, { container: 1, filename: 1, namespace: 1, node: 1, path: 2, pod: 1, source: 2, tenant: 2 })

  const fields = await loki(server, 'detected_fields', { query: ALL, start, end })
  t.equal(fields.status, 200)
  t.same(fields.body, {
    fields: [
      { label: 'job', type: 'string', cardinality: 1, parsers: ['logfmt'] },
      { label: 'level', type: 'string', cardinality: 2, parsers: ['json'] },
      { label: 'msg', type: 'string', cardinality: 60, parsers: ['json'] },
      { label: 'n', type: 'int', cardinality: 10, parsers: ['logfmt'] },
      { label: 'took', type: 'duration', cardinality: 10, parsers: ['logfmt'] },
    ],
    limit: 1000,
  })
  const sampled = await loki(server, 'detected_fields', { query: '{pod="api-1"}', start, end, line_limit: '5' })
  t.equal(sampled.body.fields.find((f: Body) => f.label === 'msg').cardinality, 5, 'line_limit: the newest lines')
  const values = await loki(server, 'detected_field/level/values', { query: ALL, start, end })
  t.same(values.body, { values: ['error', 'info'], limit: 1000 })
  t.same((await loki(server, 'detected_field/nothing/values', { query: ALL, start, end })).body, { values: [] })
})

t.test('buildinfo, drilldown-limits and the data source test', async t => {
  const server = await setup(t)
  const build = await loki(server, 'status/buildinfo')
  t.same(Object.keys(build.body).sort(), ['branch', 'buildDate', 'buildUser', 'goVersion', 'revision', 'version'])
  t.match(build.body.version, /^3\.\d+\.\d+$/)
  const limits = await loki(server, 'drilldown-limits')
  t.match(limits.body, { limits: { volume_enabled: true }, pattern_ingester_enabled: true })
  // Grafana's "Save & test" asks for this instant query and checks the answer is 2.
  const test = await loki(server, 'query', { query: 'vector(1)+vector(1)' })
  t.equal(test.status, 200)
  t.match(test.body.data, { resultType: 'vector', result: [{ metric: {}, value: [Number, '2'] }] })
})

t.test('tenant scoping on every route', async t => {
  const server = await setup(t)
  for (const [name, headers] of PROD_VIEWS) {
    const stats = await loki(server, 'index/stats', { query: ALL, start, end }, headers)
    t.match(stats.body, { streams: 1, chunks: 60, entries: 60 }, `${name}: index/stats`)
    const tenants = (r: Body): string[] => r.body.data.result.map((x: Body) => x.metric.tenant)
    t.same(tenants(await loki(server, 'index/volume', { query: ALL, start, end }, headers)), ['prod'],
      `${name}: index/volume`)
    t.same(tenants(await loki(server, 'index/volume_range', { query: ALL, start, end }, headers)), ['prod'],
      `${name}: index/volume_range`)
    const patterns = await loki(server, 'patterns', { query: ALL, start, end }, headers)
    t.notOk(patterns.body.data.some((p: Body) => p.pattern.startsWith('job=')), `${name}: patterns`)
    const labels = await loki(server, 'detected_labels', { query: ALL, start, end }, headers)
    t.match(labels.body.detectedLabels, [{ label: 'container' }], `${name}: detected_labels`)
    t.equal(labels.body.detectedLabels.find((l: Body) => l.label === 'tenant').cardinality, 1)
    const fields = await loki(server, 'detected_fields', { query: ALL, start, end }, headers)
    t.same(fields.body.fields.map((f: Body) => f.label), ['level', 'msg'], `${name}: detected_fields`)
    const values = await loki(server, 'detected_field/job/values', { query: ALL, start, end }, headers)
    t.same(values.body, { values: [] }, `${name}: detected_field values`)
  }
})

t.test('bad queries: 400 with the position', async t => {
  const server = await setup(t)
  for (const route of ['index/stats', 'index/volume', 'index/volume_range', 'patterns', 'detected_labels',
    'detected_fields', 'detected_field/level/values']) {
    const bad = await loki(server, route, { query: '{pod="api-1"', start, end })
    t.equal(bad.status, 400, route)
    t.match(bad.body, /parse error at line 1, column \d+/, `${route}: the position`)
  }
  t.match((await loki(server, 'index/stats', {})).body, /parameter query is required/)
  t.match((await loki(server, 'patterns', { query: 'count_over_time({pod="a"}[1m])' })).body, /log query/)
  t.match((await loki(server, 'index/volume', { query: ALL, limit: '0' })).body, /limit must be/)
  t.match((await loki(server, 'detected_fields', { query: ALL, start: 'soon' })).body, /start: 'soon' is not a time/)
})
