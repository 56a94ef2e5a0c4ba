// LogQL text to the query logfs evaluates: each part of the language the grammar gives, and errors that name the
// position and what was expected; the log part of a metric query, for the lines behind a point of its chart.
import t from 'tap'
import { parseLogQL } from '../lib/logql/parse'
import { linesBehind, logPartOf } from '../lib/logql/drilldown'
import { QueryError } from '../lib/query/errors'

t.test('log queries: selector, line filters, parsers, label filters, formatting', async t => {
  t.match(parseLogQL('{app="api", env=~"prod|dev", x!="1", y!~"z.*"}'), {
    kind: 'log',
    selector: [
      { name: 'app', op: '=', value: 'api' }, { name: 'env', op: '=~', value: 'prod|dev' },
      { name: 'x', op: '!=', value: '1' }, { name: 'y', op: '!~', value: 'z.*' },
    ],
    pipeline: [],
  })
  const q = parseLogQL('{a="b"} |= "err" != `raw\\d` |~ "x|y" or "z" | json | level="error" | duration > 10ms ' +
    '| size >= 1KB | n < 3 or n > 5 | line_format "{{.msg}}" | label_format dst=src, t="{{.a}}" | drop a, b="c" ' +
    '| keep c | logfmt | regexp "(?P<w>\\\\w+)" | pattern "<ip> - <_>" | json x="a.b", y')
  t.match(q, {
    kind: 'log',
    pipeline: [
      {
        kind: 'line',
        filters: [{ op: '|=', values: ['err'] }, { op: '!=', values: ['raw\\d'] }, { op: '|~', values: ['x|y', 'z'] }],
      },
      { kind: 'json', extract: [] },
      { kind: 'filter', predicate: { kind: 'match', matcher: { name: 'level', op: '=', value: 'error' } } },
      { kind: 'filter', predicate: { kind: 'compare', name: 'duration', op: '>', value: 0.01, unit: 'duration' } },
      { kind: 'filter', predicate: { kind: 'compare', name: 'size', op: '>=', value: 1000, unit: 'bytes' } },
      {
        kind: 'filter',
        predicate: { kind: 'or', left: { kind: 'compare', op: '<', value: 3 }, right: { op: '>', value: 5 } },
      },
      { kind: 'line_format', template: '{{.msg}}' },
      { kind: 'label_format', renames: [{ to: 'dst', from: 'src', template: null }, { to: 't', template: '{{.a}}' }] },
      { kind: 'drop', names: ['a'], matchers: [{ name: 'b', value: 'c' }] },
      { kind: 'keep', names: ['c'] },
      { kind: 'logfmt' },
      { kind: 'regexp' },
      { kind: 'pattern', pattern: '<ip> - <_>' },
      { kind: 'json', extract: [{ label: 'x', path: 'a.b' }, { label: 'y', path: null }] },
    ],
  })
})

t.test('metric queries: range and vector aggregations, unwrap, binary operations, offset', async t => {
  t.match(parseLogQL('sum by (level) (count_over_time({a="b"} | json [1m] offset 5m)) > 2'), {
    kind: 'binary', op: '>', bool: false,
    left: {
      kind: 'vector', op: 'sum', grouping: { mode: 'by', labels: ['level'] },
      inner: {
        kind: 'range', op: 'count_over_time', range: 60_000, offset: 300_000, log: { pipeline: [{ kind: 'json' }] },
      },
    },
    right: { kind: 'number', value: 2 },
  })
  t.match(parseLogQL('quantile_over_time(0.99, {a="b"} | json | unwrap duration(d) | d > 0 [1m]) by (name)'), {
    kind: 'range', op: 'quantile_over_time', param: 0.99, grouping: { mode: 'by', labels: ['name'] },
    unwrap: { label: 'd', conversion: 'duration', post: [{ kind: 'compare', name: 'd' }] },
  })
  t.match(parseLogQL('topk(3, sum without (pod) (rate({a="b"}[5m])))'), {
    kind: 'vector',
    op: 'topk',
    param: 3,
    inner: { kind: 'vector', op: 'sum', grouping: { mode: 'without', labels: ['pod'] } },
  })
  t.match(parseLogQL('sum(rate({a="b"}[1m])) / on(x) sum(rate({a="b"}[1m])) * 100'), { kind: 'binary' })
  t.match(parseLogQL('count_over_time({a="b"}[1m]) > bool 3'), { kind: 'binary', bool: true })
})

t.test('bad queries: position and what was expected', async t => {
  const bad: Array<[string, RegExp]> = [
    ['{app=', /line 1, column 6: unexpected end of query, expected/],
    ['{app="x"} |= ', /line 1, column 1[34]: .*expected a quoted string/],
    ['sum(x)', /line 1, column 5: unexpected "x"/],
    ['{a="b"}\n | json | unwrap', /line 2/],
    ['sum_over_time({a="b"}[1m])', /sum_over_time needs an unwrap stage/],
    ['{a="b"} | regexp "(?P<x"', /invalid regular expression/],
    ['{a="b"} | line_format "{{ if .a }}x{{ end }}"', /only \{\{\.label\}\}/],
    ['', /empty/],
  ]
  for (const [q, message] of bad) {
    try {
      const parsed = parseLogQL(q)
      // Some errors (templates) show when the pipeline is compiled, not when it is parsed.
      const { compilePipeline } = await import('../lib/logql/pipeline')
      if (parsed.kind === 'log') compilePipeline(parsed.pipeline)
      t.fail(`${q} parsed`)
    } catch (err) {
      t.ok(err instanceof QueryError, q)
      t.match(err, { kind: 'bad-input', message }, `${JSON.stringify(q)}: ${(err as Error).message}`)
    }
  }
})

t.test('the lines behind a point: the log part of the first range, the series\' labels, the range counted', async t => {
  t.same(logPartOf('sum by (level) (count_over_time({app="x"} |= "a" | json [5m] offset 1h))'),
    { log: '{app="x"} |= "a" | json', range: 300_000, offset: 3_600_000 }, 'selector and pipeline, range, offset')
  t.same(logPartOf('quantile_over_time(0.99, {app="x"} | logfmt | unwrap duration(took) [1m]) by (name)'),
    { log: '{app="x"} | logfmt', range: 60_000, offset: 0 }, 'without the unwrap')
  t.equal(logPartOf('sum(rate({a="1"}[1m])) / sum(rate({b="2"}[1m]))')?.log, '{a="1"}', 'the first of a binary')
  t.equal(logPartOf('{app="x"} |= "a"'), null, 'a log query has none')
  const part = { log: '{app="x"} | json', range: 60_000, offset: 1000 }
  t.same(linesBehind(part, { level: 'error', 'a.b': 'x', q: 'say "hi"\\' }, 120_000),
    { query: '{app="x"} | json | level="error" | q="say \\"hi\\"\\\\"', from: 59_000, to: 119_000 },
    'labels as label filters (quoted; names LogQL cannot filter on left out), over (t - offset - range, t - offset]')
  t.same(parseLogQL(linesBehind(part, { q: 'say "hi"\\' }, 0).query), {
    kind: 'log', selector: [{ name: 'app', op: '=', value: 'x' }],
    pipeline: [
      { kind: 'json', extract: [] },
      { kind: 'filter', predicate: { kind: 'match', matcher: { name: 'q', op: '=', value: 'say "hi"\\' } } },
    ],
  }, 'which parses back to the label\'s value')
})
