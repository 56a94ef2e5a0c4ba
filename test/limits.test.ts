// The limits file: the shape the README gives, inheritance (tenant over default over built-in), and a bad file
// refused with its line and reason, at start (exit 2) and on reload (the limits in force stay).
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { builtinLimits, parseLimits, watchLimits, type Limits } from '../lib/server/limits'
import { cli, sleep, tempDir, waitFor } from './helpers/cluster'

const MiB = 1024 * 1024
const GiB = 1024 * MiB
const DAY = 86_400_000
const builtin = builtinLimits({ size: 10 * GiB, ageMs: 7 * DAY })
const EXAMPLE = `{
  "default": { "ingest": "8MiB/s", "burst": "32MiB", "sources": 10000,
               "retention": { "size": "10GiB", "age": "7d" }, "queries": 4, "scan": "20GiB" },
  "tenants": { "shop": { "ingest": "1MiB/s", "burst": "2MiB", "retention": { "size": "500MiB" } } }
}`

t.test('the example: a tenant entry over the default, the default over the built-in limits', async t => {
  const l = parseLimits(EXAMPLE, 'limits.json', builtin)
  t.same(l.default, {
    ingest: 8 * MiB, burst: 32 * MiB, sources: 10000, retention: { size: 10 * GiB, ageMs: 7 * DAY }, queries: 4,
    scan: 20 * GiB,
  })
  t.same(l.tenants.get('shop'), {
    ingest: MiB, burst: 2 * MiB, sources: 10000, retention: { size: 500 * MiB, ageMs: 7 * DAY }, queries: 4,
    scan: 20 * GiB,
  }, 'shop keeps the default age, sources, queries and scan')
  const none = parseLimits('{}', 'limits.json', builtin)
  t.same(none.default, builtin, 'an empty file is the built-in limits')
  t.equal(none.default.ingest, Infinity)
  const partial = parseLimits('{"default": {"retention": {"age": "1d"}}}', 'l.json', builtin)
  t.same(partial.default.retention, { size: 10 * GiB, ageMs: DAY }, 'retention keys inherit one by one')
})

t.test('a bad file: the line and the reason', async t => {
  const cases: Array<[string, string, RegExp]> = [
    ['not JSON', '{\n  "default": {\n    "ingest": "1MiB/s",,\n  }\n}', /^f\.json: line 3: not JSON: /],
    ['unknown key', '{\n  "default": {\n    "rate": "1MiB/s"\n  }\n}', /^f\.json: line 3: default\.rate is not a limit \(known: ingest, /],
    ['not a rate', '{\n  "tenants": {\n    "a": {\n      "ingest": "1MiB"\n    }\n  }\n}', /^f\.json: line 4: tenants\.a\.ingest: '1MiB' is not a rate/],
    ['not a size', '{\n  "default": { "scan": "lots" }\n}', /^f\.json: line 2: default\.scan: 'lots' is not a size/],
    ['not a count', '{\n\n  "default": { "queries": 0 }\n}', /^f\.json: line 3: default\.queries must be a whole number, 1 or more$/],
    ['bad age', '{"default":\n {"retention": {"age": "soon"}}}', /^f\.json: line 2: default\.retention\.age: 'soon' is not a duration/],
    ['burst under rate', '{\n "tenants": {\n  "a": { "ingest": "2MiB/s", "burst": "1MiB" }\n }\n}', /^f\.json: line 3: tenants\.a: burst must be at least one second of ingest$/],
    ['top level', '[]', /^f\.json: line 1: the file must be an object$/],
  ]
  for (const [what, text, re] of cases) t.throws(() => parseLimits(text, 'f.json', builtin), re, what)
})

t.test('logfs server --limits: a bad file exits 2 with the line; a bad edit keeps the limits in force', async t => {
  const dir = tempDir(t, 'limits')
  const file = path.join(dir, 'limits.json')
  fs.writeFileSync(file, '{\n  "default": { "ingest": "fast" }\n}\n')
  const r = await cli(['server', '--limits', file, '--listen', '127.0.0.1:0', '--data-dir', path.join(dir, 'd')])
  t.equal(r.code, 2, 'exit 2')
  t.match(r.stderr, /^logfs: .*limits\.json: line 2: default\.ingest: 'fast' is not a rate/)
  const missing = await cli(['server', '--limits', path.join(dir, 'none.json'), '--listen', '127.0.0.1:0'])
  t.equal(missing.code, 2, 'a missing file is bad input too')
  t.match(missing.stderr, /--limits .*none\.json: ENOENT/)

  fs.writeFileSync(file, EXAMPLE)
  const seen: Limits[] = []
  const errors: string[] = []
  const w = watchLimits(file, builtin, l => seen.push(l), e => errors.push(e.message))
  t.teardown(w.stop)
  t.equal(w.initial.tenants.get('shop')?.ingest, MiB)
  fs.writeFileSync(file, EXAMPLE.replace('"1MiB/s"', '"1MiB/s" "x"'))
  await waitFor('the bad edit reported', () => errors.length > 0)
  t.match(errors[0], /limits\.json: line 4: not JSON/)
  t.equal(seen.length, 0, 'nothing replaced the limits in force')
  fs.writeFileSync(file, EXAMPLE.replace('"1MiB/s"', '"4MiB/s"').replace('"2MiB"', '"8MiB"'))
  await waitFor('the good edit taken', () => seen.length > 0)
  t.equal(seen[0].tenants.get('shop')?.ingest, 4 * MiB, 'a fixed file is taken')
  await sleep(10)
})
