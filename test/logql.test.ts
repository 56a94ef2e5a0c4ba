// LogQL conformance: queries in the forms Loki's documentation gives, with known answers, over generated lines
// written with known times to a store opened in-process.
import t, { type Test } from 'tap'
import { Store } from '../lib/store/disk/store'
import { parseLogQL } from '../lib/logql/parse'
import { evaluate, type Evaluation, type Result } from '../lib/logql/evaluate'
import { neededLabels } from '../lib/logql/needed'
import { jsonLabels } from '../lib/logql/extract'
import { UNUSUAL_IN_LINES } from '../lib/logql/json-flat'
import { quantile } from '../lib/logql/cells'
import { fieldsAddon } from '../lib/logql/fields'
import type { RangeAggregation } from '../lib/logql/ast'
import { tempDir } from './helpers/cluster'

const T0 = Date.UTC(2026, 0, 1)
const S = 1000
const API = 'n1/prod/api-1/app/app.log'
const WEB = 'n1/prod/web-1/app/app.log'
const OTHER = 'n1/staging/worker.log'

const level = (i: number): string => i % 10 === 0 ? 'error' : i % 5 === 0 ? 'warn' : 'info'
const apiLine = (i: number): string =>
  JSON.stringify({ level: level(i), msg: `req-${i}`, duration: `${i}ms`, http: { status: i % 10 === 0 ? 500 : 200 } })
const webLine = (i: number): string => `level=info method=GET path="/p ${i}" took=${i}ms`

async function fill (t: Test): Promise<Store> {
  const store = Store.open({ dir: tempDir(t, 'logql'), segmentBytes: 64 << 20, retentionBytes: 1e12, retentionMs: 0 })
  t.teardown(() => store.close())
  const write = async (source: string, lines: Array<[number, string]>): Promise<void> => {
    let offset = 0
    for (const [ts, text] of lines) {
      const data = Buffer.from(text + '\n')
      await store.append([{ source, gen: 1, offset, timestamp: ts, data }])
      offset += data.length
    }
  }
  // api: a JSON line every 10 s for 10 minutes; web: a logfmt line every 20 s; staging: another tenant.
  await write(API, Array.from({ length: 60 }, (_, i) => [T0 + i * 10 * S, apiLine(i)]))
  await write(WEB, Array.from({ length: 30 }, (_, i) => [T0 + i * 20 * S, webLine(i)]))
  await write(OTHER, Array.from({ length: 10 }, (_, i) => [T0 + i * 60 * S, `staging line ${i}`]))
  return store
}

const everyone = (_tenant: string): boolean => true

const near = (a: number, b: number): boolean => Math.abs(a - b) < 1e-9

function run (store: Store, query: string, e: Partial<Evaluation> = {}, allowed = everyone): Promise<Result> {
  return evaluate(store, allowed, parseLogQL(query), {
    start: T0, end: T0 + 600 * S, step: 60 * S, instant: false, limit: 100, direction: 'forward', ...e,
  })
}

/** An instant query's vector as { labels JSON: value }. */
async function instant (store: Store, query: string, at: number, allowed = everyone): Promise<Record<string, number>> {
  const r = await run(store, query, { instant: true, start: at, end: at }, allowed)
  if (r.kind === 'scalar') return { scalar: r.values[0] }
  if (r.kind !== 'vector') throw new Error(`expected a vector, got ${r.kind}`)
  return Object.fromEntries(r.series.map(s => [JSON.stringify(s.labels), s.values[0]]))
}

const lines = (r: Result): string[] => r.kind === 'streams' ? r.streams.flatMap(s => s.values.map(v => v[1])) : []

t.test('log queries', async t => {
  const store = await fill(t)
  const asked: number[][] = []
  const candidates = store.candidates.bind(store)
  store.candidates = (hashes, wanted) => { asked.push(hashes); return candidates(hashes, wanted) }
  t.same(lines(await run(store, '{pod="api-1"} |= "req-7\\""')), [apiLine(7)], 'a line filter')
  const warn = [5, 15, 25, 35, 45, 55].map(apiLine)
  t.same(lines(await run(store, '{pod="api-1"} |= "\\"warn\\""')), warn, 'a line filter proving a token')
  t.equal(asked.length, 1, '|= asks the block filters which blocks may hold its tokens, as grep does')
  t.ok(asked[0].length > 0)
  store.candidates = candidates
  t.same(lines(await run(store, '{pod="api-1"}', { limit: 3 })), [0, 1, 2].map(apiLine), 'forward: the oldest')
  t.same(lines(await run(store, '{pod="api-1"}', { limit: 2, direction: 'backward' })), [59, 58].map(apiLine),
    'backward: the newest, newest first')
  const errors = '{pod="api-1"} | json | level="error" | http_status >= 500 | line_format "{{.msg}} took {{.duration}}"'
  t.same(lines(await run(store, errors)), [0, 10, 20, 30, 40, 50].map(i => `req-${i} took ${i}ms`),
    'json, nested keys joined by _, label filters, line_format')
  t.same(lines(await run(store, '{pod="api-1"} | json | duration > 55ms')), [56, 57, 58, 59].map(apiLine), 'durations')
  t.same(lines(await run(store, '{pod="api-1"} |~ "req-5[0-9]\\"" != "req-55" | json | level != "info"')),
    [50].map(apiLine), 'regex and negative filters')
  t.same(lines(await run(store, '{pod="api-1"} |= "req-1\\"" or "req-2\\""')), [1, 2].map(apiLine), 'or in a filter')
  const web = await run(store, '{container="app", pod=~"web-.*"} | logfmt | took >= 28ms | keep path_extracted, pod')
  t.same(web.kind === 'streams' && web.streams.map(s => s.stream), [
    { path_extracted: '/p 28', pod: 'web-1' }, { path_extracted: '/p 29', pod: 'web-1' },
  ], 'logfmt with quoted values; an extracted label a stream label has gets _extracted; keep')
  const pattern = '{pod="web-1"} | pattern "level=<level> method=<method> <_>"' +
      ' | drop pod, level | label_format m=method'
  const pat = await run(store, pattern)
  t.match(pat.kind === 'streams' && pat.streams, [{ stream: { m: 'GET', namespace: 'prod', filename: 'app.log' } }],
    'pattern, drop and label_format')
  t.notOk(pat.kind === 'streams' && 'method' in pat.streams[0].stream, 'label_format a=b renames')
  const re = await run(store, '{pod="api-1"} | regexp "req-(?P<n>\\\\d+)" | n = "42"')
  t.same(lines(re), [apiLine(42)], 'regexp with a Go named group')
  t.same(lines(await run(store, '{namespace="prod"}', {}, (tenant: string) => tenant === 'staging')), [],
    'a token that sees only staging sees nothing of prod')
  t.same(lines(await run(store, '{source=~".*worker.*"}', { limit: 1 })), ['staging line 0'], 'the source label')
  t.same(lines(await run(store, '{pod="api-1"}', { start: T0 + 100 * S, end: T0 + 120 * S })), [10, 11].map(apiLine),
    'the range is [start, end)')
})

t.test('a filter after decolorize matches the line without its colours: neither the block filters nor the window ' +
  'check look for it in the line as stored', async t => {
  const store = Store.open({ dir: tempDir(t, 'logql-colours'), segmentBytes: 64 << 20, retentionBytes: 1e12,
    retentionMs: 0 })
  t.teardown(() => store.close())
  const data = Buffer.from('\x1b[31mERROR\x1b[0m: disk full\nall ok\n')
  await store.append([{ source: 'n1/prod/term-1/app/app.log', gen: 1, offset: 0, timestamp: T0 + S, data }])
  t.same(lines(await run(store, '{pod="term-1"} | decolorize |= "ERROR: disk"')), ['ERROR: disk full'])
  const counted = await instant(store, 'count_over_time({pod="term-1"} | decolorize |= "ERROR: disk" [10m])',
    T0 + 60 * S)
  t.same(Object.values(counted), [1], 'and a metric query counts it')
})

t.test('range aggregations', async t => {
  const store = await fill(t)
  const at60 = T0 + 60 * S
  const api = JSON.stringify({
    node: 'n1', tenant: 'prod', path: 'prod/api-1/app/app.log', source: API,
    namespace: 'prod', pod: 'api-1', container: 'app', filename: 'app.log',
  })
  t.same(await instant(store, 'count_over_time({pod="api-1"}[1m])', at60), { [api]: 6 },
    'a window is (t - range, t]: the line at t - range is not in it')
  t.same(await instant(store, 'rate({pod="api-1"}[1m])', at60), { [api]: 0.1 }, 'rate: per second')
  const bytes = [1, 2, 3, 4, 5, 6].reduce((a, i) => a + Buffer.byteLength(apiLine(i)), 0)
  t.same(await instant(store, 'bytes_over_time({pod="api-1"}[1m])', at60), { [api]: bytes }, 'bytes_over_time')
  t.same(await instant(store, 'bytes_rate({pod="api-1"}[1m])', at60), { [api]: bytes / 60 }, 'bytes_rate')
  t.same(await instant(store, 'count_over_time({pod="api-1"}[1m] offset 1m)', at60 + 60 * S), { [api]: 6 }, 'offset')
  t.same(await instant(store, 'absent_over_time({pod="nope"}[1m])', at60), { '{"pod":"nope"}': 1 }, 'absent_over_time')
  t.same(await instant(store, 'absent_over_time({pod="api-1"}[1m])', at60), {}, 'absent_over_time of present lines')

  const at600 = T0 + 600 * S
  const unwrapped = async (op: string): Promise<number> => {
    const got = await instant(store, `${op}({pod="api-1"} | json | unwrap duration(duration) [10m]) by (pod)`, at600)
    return got['{"pod":"api-1"}']
  }
  // Lines 1 to 59 are in the window: durations of 1 ms to 59 ms.
  t.ok(near(await unwrapped('sum_over_time'), 1.77), 'sum')
  t.ok(near(await unwrapped('avg_over_time'), 0.03), 'avg')
  t.equal(await unwrapped('min_over_time'), 0.001)
  t.equal(await unwrapped('max_over_time'), 0.059)
  t.equal(await unwrapped('first_over_time'), 0.001)
  t.equal(await unwrapped('last_over_time'), 0.059)
  t.ok(Math.abs(await unwrapped('stddev_over_time') - Math.sqrt((59 ** 2 - 1) / 12) / 1000) < 1e-9, 'stddev')
  const durations = '{pod="api-1"} | json | unwrap duration(duration) [10m]'
  const q = await instant(store, `quantile_over_time(0.5, ${durations}) by (level)`, at600)
  // info: the 48 of 1..59 ms not a multiple of 5; their median lies halfway between the 24th and 25th, 29 and 31 ms.
  t.ok(near(q['{"level":"info"}'], 0.03) && near(q['{"level":"warn"}'], 0.03) && near(q['{"level":"error"}'], 0.03),
    'quantile, by level')
  const q9 = await instant(store, `quantile_over_time(0.9, ${durations}) by (pod)`, at600)
  // 59 values, 1..59 ms: rank 0.9 * 58 = 52.2, between 53 and 54 ms.
  t.ok(near(q9['{"pod":"api-1"}'], 0.0532), `quantile 0.9 interpolates: ${q9['{"pod":"api-1"}']}`)
  const n = await instant(store, 'max_over_time({pod="api-1"} | json | unwrap http_status [10m]) by (level)', at600)
  t.same(n, { '{"level":"error"}': 500, '{"level":"warn"}': 200, '{"level":"info"}': 200 }, 'unwrap a number')
  const big = await instant(store, 'sum(sum_over_time({pod="api-1"} | json | unwrap bytes(duration) [10m]))', at600)
  t.same(big, {}, 'values that do not convert (10ms is not a size) are left out')
})

t.test('vector aggregations and binary operations', async t => {
  const store = await fill(t)
  const at60 = T0 + 60 * S
  const at600 = T0 + 600 * S
  const byLevel = 'sum by (level) (count_over_time({pod="api-1"} | json [10m]))'
  t.same(await instant(store, byLevel, at600),
    { '{"level":"info"}': 48, '{"level":"warn"}': 6, '{"level":"error"}': 5 })
  t.same(await instant(store, `topk(1, ${byLevel})`, at600), { '{"level":"info"}': 48 }, 'topk')
  t.same(await instant(store, `bottomk(2, ${byLevel})`, at600), { '{"level":"warn"}': 6, '{"level":"error"}': 5 })
  t.same(await instant(store, `max(${byLevel})`, at600), { '{}': 48 })
  t.same(await instant(store, `min(${byLevel})`, at600), { '{}': 5 })
  t.same(await instant(store, `avg(${byLevel})`, at600), { '{}': 59 / 3 })
  t.same(await instant(store, `count(${byLevel})`, at600), { '{}': 3 })
  const without = 'sum without (node, tenant, path, source, pod, filename) (count_over_time({namespace="prod"}[1m]))'
  t.same(await instant(store, without, at60),
    { '{"namespace":"prod","container":"app"}': 9 }, 'without')
  t.same(await instant(store, 'sum(count_over_time({pod="api-1"}[1m])) /' +
      ' sum(count_over_time({pod="web-1"}[1m]))', at60),
    { '{}': 2 }, 'vector / vector')
  t.same(await instant(store, 'sum(count_over_time({pod="api-1"}[1m])) * 2 + 1', at60), { '{}': 13 }, 'with scalars')
  t.same(await instant(store, '2 * 3 ^ 2', at60), { scalar: 18 }, 'scalars alone; ^ binds tightest')
  t.same(await instant(store, '(1 + 2) * 3 - 4 - 1', at60), { scalar: 4 }, 'parentheses; - is left-associative')
  t.same(await instant(store, '2 ^ 3 ^ 2', at60), { scalar: 512 }, '^ is right-associative')
  const prod = 'count_over_time({namespace="prod"}[1m])'
  t.same(Object.values(await instant(store, `${prod} > 4`, at60)), [6], 'a comparison filters')
  t.same(Object.values(await instant(store, 'count_over_time({namespace="prod"}[1m]) > bool 4', at60)).sort(), [0, 1],
    'bool gives 0 or 1')
  t.same(await instant(store, 'sum by (pod) (count_over_time({namespace="prod"}[1m])) and on (pod)' +
      ' sum by (pod) (count_over_time({pod="web-1"}[1m]))', at60),
    { '{"pod":"web-1"}': 3 }, 'and on (...)')
  t.same(await instant(store, 'sum by (pod) (count_over_time({namespace="prod"}[1m])) unless' +
      ' sum by (pod) (count_over_time({pod="web-1"}[1m]))', at60),
    { '{"pod":"api-1"}': 6 }, 'unless')
})

t.test('range queries: every step in one pass', async t => {
  const store = await fill(t)
  const r = await run(store, 'sum(count_over_time({pod="api-1"}[1m]))', {
    start: T0 + 60 * S, end: T0 + 300 * S, step: 60 * S })
  t.equal(r.kind, 'matrix')
  if (r.kind !== 'matrix') return
  t.same([...r.series[0].values], [6, 6, 6, 6, 6])
  const sliding = await run(store, 'count_over_time({pod="web-1"}[1m])', {
    start: T0 + 30 * S, end: T0 + 90 * S, step: 20 * S })
  // web lines at 0, 20, 40, ... s: windows (t-60, t] for t = 30, 50, 70, 90.
  t.same(sliding.kind === 'matrix' && [...sliding.series[0].values], [2, 3, 3, 3],
    'a step that does not divide the range')
  const sparse = await run(store, 'count_over_time({pod="api-1"}[10s])', {
    start: T0 + 590 * S, end: T0 + 700 * S, step: 10 * S })
  t.same(sparse.kind === 'matrix' && [...sparse.series[0].values].map(v => Number.isNaN(v) ? null : v),
    [1, null, null, null, null, null, null, null, null, null, null, null], 'no lines, no point')
})

t.test('parsers extract only the labels the answer reads, with the answers of a full extraction', async t => {
  const store = Store.open({ dir: tempDir(t, 'logql'), segmentBytes: 64 << 20, retentionBytes: 1e12, retentionMs: 0 })
  t.teardown(() => store.close())
  const source = 'n1/t/a.log'
  // Names that only sanitizing and flattening tell apart, a field named like a stream label, lines no parser takes.
  const texts = [
    '{"level":"info","a":{"b":"nested"},"a_b":"flat","tenant":"json-tenant","d":"5"}',
    '{"a_b":"flat-first","a":{"b":"nested-last"},"level":"warn","d":7}',
    'not json level=debug a_b=lf d=3',
    '{"level":null,"d":"x"}',
    '["an array"]',
    '{"lev el":"odd","level":"error","d":1.5,"a-b":"dash"}',
    // Flat lines, which the scan workers read in C (fields/flat.c).
    '{"level":"info","d":"5","a_b":"flat"}', ' { "level" : "warn" , "d" : 1e1 , "tenant" : "t2" } ',
    '{"d":1,"d":2,"level":"info","a_b":null}', '{"level":"error","d":true}', '{}',
  ]
  let offset = 0
  for (let i = 0; i < 60; i++) {
    const data = Buffer.from(texts[i % texts.length] + '\n')
    await store.append([{ source, gen: 1, offset, timestamp: T0 + i * 7 * S, data }])
    offset += data.length
  }
  const queries = [
    'sum by (level) (count_over_time({tenant="t"} | json STAGE [1m]))',
    'sum by (a_b, tenant_extracted) (count_over_time({tenant="t"} | json STAGE [1m]))',
    'sum by (level) (count_over_time({tenant="t"} | json | __error__="" | a_b=~"flat.*" STAGE [1m]))',
    'sum by (a_b) (bytes_over_time({tenant="t"} | logfmt STAGE [2m]))',
    'quantile_over_time(0.5, {tenant="t"} | json STAGE | unwrap d [1m]) by (level)',
    'max_over_time({tenant="t"} | json STAGE | unwrap d | a_b!="flat" [1m]) by (a_b)',
  ]
  t.ok(fieldsAddon(), 'the C fast path is built, so the json queries here go through it')
  for (const q of queries) {
    const fast = parseLogQL(q.replace(' STAGE', ''))
    // `drop` of a label no line has rewrites nothing, but makes every parser extract every field.
    const full = parseLogQL(q.replace('STAGE', '| drop no_such_label'))
    const inner = (x: typeof fast): RangeAggregation => x.kind === 'vector' ? x.inner as RangeAggregation
      : x as RangeAggregation
    const collapse = fast.kind === 'vector' ? fast.grouping : null
    t.ok(neededLabels(inner(fast), collapse), `${q}: the fast path applies`)
    t.equal(neededLabels(inner(full), collapse), null, `${q}: with drop, a full extraction`)
    const e: Evaluation = { start: T0, end: T0 + 420 * S, step: 60 * S, instant: false, limit: 100,
      direction: 'forward' }
    const [a, b] = [await evaluate(store, everyone, fast, e), await evaluate(store, everyone, full, e)]
    const values = (r: Result): unknown => r.kind === 'matrix'
      ? r.series.map(s => [JSON.stringify(s.labels), [...s.values].map(v => Number.isNaN(v) ? null : v)]).sort()
      : r
    t.ok(a.kind === 'matrix' && a.series.length > 0, `${q}: has series`)
    t.same(values(a), values(b), q)
  }
})

t.test('the flat JSON fast path gives what JSON.parse and flattening give the named fields', async t => {
  const lines = [
    '{"level":"info","n":1.50,"e":1e3,"z":-0,"b":true,"f":false,"x":null}',
    '{"a":1,"a":2}', '{"a_b":"x","a-b":"y","a_b":"z"}', '{"1a":"d","_1a":"e"}', '{"a":{"b":"n"},"a_b":"f"}',
    '{"a":"esc\\"aped"}', '{"a":"ünï"}', ' { "a" : "spaced" , "n" : 2 } ', '{"a":1} x', '{"a":1,}', '{}', '{"a":"x"',
    '{"a":01}', '{"a":1.}', '{"a":-}', '{"a":1e}', '{"a":[1,2],"n":3}', '["a"]', 'a=1', '', '{"a":tru}',
    '{"a":"tab\there"}', '{"n":123456789012345678901234567890}', '{"n":0.1e-7}', '{"a":nullx}',
  ]
  const names = [new Set(['a']), new Set(['a_b', 'n']), new Set(['level', 'n', 'e', 'z', 'b', 'f', 'x']),
    new Set(['_1a', 'missing'])]
  const pick = (l: Record<string, string> | null, only: Set<string>): Record<string, string> | null =>
    l === null ? null : Object.fromEntries(Object.entries(l).filter(([k]) => only.has(k)))
  for (const line of lines) {
    for (const only of names) t.same(jsonLabels(line, only), pick(jsonLabels(line), only), `${line} ${[...only]}`)
    // A window checked at once (range-window.ts) tells the parser its lines are plain.
    const plain = /^[\x20-\x7e]*$/.test(line) && !UNUSUAL_IN_LINES.test(line)
    if (plain) t.same(jsonLabels(line, names[1], true), pick(jsonLabels(line), names[1]), `${line}, plain`)
  }
  // Random lines of the pieces services write, some of them broken.
  const parts = ['"a":1', '"a":"v"', '"b":-2.5e3', '"a_b":true', '"c":null', '"a":"x y"', '"a-b":"q"', '"a":']
  let seed = 7
  const rand = (n: number): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n
  const random = Array.from({ length: 2000 }, () =>
    `{${Array.from({ length: rand(5) }, () => parts[rand(parts.length)]).join(',')}}`)
  for (const line of random) {
    const only = names[rand(2)]
    t.same(jsonLabels(line, only), pick(jsonLabels(line), only), line)
    t.same(jsonLabels(line, only, true), pick(jsonLabels(line), only), `${line}, plain`)
  }
  // The C fast path, on all these lines as one window: a line it reads gives, as a line of just the values it found
  // (range-window.ts), the named fields a full parse gives; it leaves every line a full parse rejects.
  const addon = fieldsAddon()
  if (addon === null) return t.fail('the fields addon is not built')
  const all = [...lines, ...random]
  for (const only of names) {
    const list = [...only]
    const got = addon.flatFields(Buffer.from(all.join('\n')), list)
    t.equal(got.ids.length, all.length, 'a result per line')
    let read = 0
    all.forEach((line, i) => {
      const id = got.ids[i]
      if (id === addon.constants.NOT_FLAT) return
      read++
      const set = got.sets[id]
      const rebuilt = '{' + list.flatMap((name, j) => set[j] === null ? [] : [`"${name}":${set[j]}`]).join(',') + '}'
      t.same(jsonLabels(rebuilt), pick(jsonLabels(line), only), `C: ${line} ${list}`)
    })
    t.ok(read > 1000, `C read most of the lines (${read})`)
  }
  // The limits it states are the ones it keeps.
  const { MAX_NAMES, MAX_NAME_BYTES } = addon.constants
  const data = Buffer.from('{"a":1}\n')
  t.doesNotThrow(() => addon.flatFields(data, Array.from({ length: MAX_NAMES }, (_, i) => `n${i}`)), 'MAX_NAMES names')
  t.throws(() => addon.flatFields(data, Array.from({ length: MAX_NAMES + 1 }, (_, i) => `n${i}`)), 'one name more')
  t.doesNotThrow(() => addon.flatFields(data, ['a'.repeat(MAX_NAME_BYTES)]), 'a name of MAX_NAME_BYTES')
  t.throws(() => addon.flatFields(data, ['a'.repeat(MAX_NAME_BYTES + 1)]), 'a longer name')
})

t.test('a quantile from counted values is the quantile of every sample sorted', async t => {
  let seed = 11
  const rand = (n: number): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n
  for (let i = 0; i < 200; i++) {
    const samples = Array.from({ length: 1 + rand(50) }, () => rand(3) === 0 ? rand(1000) / 7 : rand(10))
    const counts = new Map<number, number>()
    for (const v of samples) counts.set(v, (counts.get(v) ?? 0) + 1)
    const sorted = [...samples].sort((a, b) => a - b)
    for (const q of [0, 0.25, 0.5, 0.9, 0.99, 1]) {
      const rank = q * (sorted.length - 1)
      const lo = Math.floor(rank)
      const hi = Math.min(lo + 1, sorted.length - 1)
      t.ok(near(quantile(q, counts), sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo)), `${q} of ${sorted}`)
    }
  }
})
