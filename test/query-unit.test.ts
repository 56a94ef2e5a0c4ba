// The query functions on a store opened in-process, no server and no sockets: tail, context, grep and its scan
// (across windows, while ingest and retention change the source under it), and the kinds of query errors.
import t, { type Test } from 'tap'
import { Store, type StoreOptions } from '../lib/store/disk/store'
import { formatCursor, type SourceIndex } from '../lib/store/source'
import { followFrom, lastLines, wholeLinesFrom } from '../lib/query/tail'
import { toLines, type Line } from '../lib/query/lines'
import { context } from '../lib/query/context'
import { grep, type GrepQuery } from '../lib/query/grep'
import { scanLines } from '../lib/query/scan'
import { QueryError, type QueryErrorKind } from '../lib/query/errors'
import { checkRange, resolveSource, selectSources } from '../lib/query/scope'
import { ScanSlots } from '../lib/query/scan-slots'
import { tempDir } from './helpers/cluster'

interface Writes {
  store: Store
  /** Appends `text` to `source` after what that generation already has, as one entry of one batch. */
  write: (source: string, text: string, opts?: { gen?: number, ts?: number }) => Promise<void>
  /** One batch of several entries (one fsync), each after the last. */
  writeMany: (source: string, texts: string[], opts?: { gen?: number, ts?: number }) => Promise<void>
  source: (name: string) => SourceIndex
}

function open (t: Test, options: Partial<StoreOptions> = {}): Writes {
  const dir = tempDir(t, 'query-unit')
  const store = Store.open({ dir, segmentBytes: 64 << 20, retentionBytes: 1e12, retentionMs: 0, ...options })
  t.teardown(() => store.close())
  const offsets = new Map<string, number>()
  const writeMany = async (source: string, texts: string[], { gen = 1, ts = Date.now() } = {}): Promise<void> => {
    const key = `${gen} ${source}`
    const entries = texts.map(text => {
      const offset = offsets.get(key) ?? 0
      offsets.set(key, offset + Buffer.byteLength(text))
      return { source, gen, offset, timestamp: ts, data: Buffer.from(text) }
    })
    await store.append(entries)
  }
  return {
    store,
    writeMany,
    write: (source, text, opts) => writeMany(source, [text], opts),
    source: name => store.source(name)!,
  }
}

const texts = (lines: Line[]): string[] => lines.map(l => l.text)
const everything = { regex: false, ignoreCase: false, word: false, limit: 100 }
const all = (store: Store): SourceIndex[] => selectSources(store, () => true, null)

async function rejectsWith (t: Test, p: Promise<unknown> | (() => unknown), kind: QueryErrorKind,
  message: RegExp): Promise<void> {
  try {
    await (typeof p === 'function' ? p() : p)
    t.fail(`expected a ${kind} error`)
  } catch (err) {
    t.ok(err instanceof QueryError, 'a QueryError')
    t.match(err, { kind, message }, `${kind}: ${(err as Error).message}`)
  }
}

t.test('tail: the last lines, the one still being written included; a follower gets whole lines only', async t => {
  const { write, source } = open(t)
  await write('n/a/x.log', 'one\ntw')
  await write('n/a/x.log', 'o\nthree\n')
  const s = source('n/a/x.log')
  t.same(texts(lastLines(s, 2)), ['two', 'three'], 'a line cut across entries is whole')
  t.same(texts(lastLines(s, 10)), ['one', 'two', 'three'], 'fewer lines than asked for')
  t.same(lastLines(s, 0), [])
  t.match(lastLines(s, 1)[0], { source: 'n/a/x.log', cursor: '1:8', text: 'three' })

  await write('n/a/x.log', 'four')
  t.same(texts(lastLines(s, 2)), ['three', 'four'], 'without a trailing newline the last line still counts')
  t.same(texts(lastLines(s, 1)), ['four'])

  const start = followFrom(s, 2)
  t.same(texts(start.lines), ['two', 'three'], 'a follower starts with whole lines')
  t.equal(formatCursor(start.next), '1:14', 'and goes on at the line being written')
  t.equal(wholeLinesFrom(s, start.next), null, 'nothing whole yet')
  await write('n/a/x.log', ' more\nfive\nsi')
  const got = wholeLinesFrom(s, start.next)!
  t.same(texts(toLines(s, got.spans)), ['four more', 'five'])
  t.equal(formatCursor(got.next), '1:29')
  t.same(texts(toLines(s, wholeLinesFrom(s, null)!.spans)).length, 5, 'from the start when there is no cursor')
})

t.test('context: the lines around a cursor, across entries and generations', async t => {
  const { write, source } = open(t)
  await write('n/a/x.log', 'a1\na2\n')
  await write('n/a/x.log', 'a3 spl')
  await write('n/a/x.log', 'it\n')
  await write('n/a/x.log', 'b1\nb2\n', { gen: 2 })
  const s = source('n/a/x.log')

  const atB1 = context(s, { gen: 2, offset: 0 }, 2, 1)!
  t.same(texts(atB1.before), ['a2', 'a3 split'], 'before: back into the previous generation')
  t.match(atB1.hit, { cursor: '2:0', text: 'b1' })
  t.same(texts(atB1.after), ['b2'])
  t.equal(atB1.source, 'n/a/x.log')

  const inside = context(s, { gen: 1, offset: 8 }, 1, 5)!
  t.match(inside.hit, { cursor: '1:6', text: 'a3 split' }, 'a cursor inside a line gives the whole line')
  t.same(texts(inside.before), ['a2'])
  t.same(texts(inside.after), ['b1', 'b2'], 'after: on into the next generation')

  t.same(texts(context(s, { gen: 1, offset: 0 }, 3, 0)!.before), [], 'nothing before the first line')
  t.equal(context(s, { gen: 1, offset: 999 }, 1, 1), null, 'a cursor no byte has')
  t.equal(context(s, { gen: 3, offset: 0 }, 1, 1), null)
})

t.test('grep: literal, -i, regex, limit, since and until', async t => {
  const { store, write } = open(t)
  await write('n/prod/api.log', 'GET / 200\nGET /slow 504 upstream timeout\n', { ts: 1000 })
  await write('n/prod/web.log', 'web timeout here\n', { ts: 1500 })
  await write('n/prod/api.log', 'POST /pay Timeout talking to bank\nGET /x 200\n', { ts: 2000 })
  const q = (over: Partial<GrepQuery>): ReturnType<typeof grep> =>
    grep(store, all(store), { ...everything, pattern: '', ...over })

  const plain = await q({ pattern: 'timeout' })
  t.same(texts(plain.hits), ['GET /slow 504 upstream timeout', 'web timeout here'], 'case-sensitive, in source order')
  t.match(plain.hits[0], { source: 'n/prod/api.log', cursor: '1:10', ts: 1000, match: [23, 30] })
  t.equal(plain.truncated, false)
  t.equal(plain.scannedBytes, 41 + 45 + 17, 'every byte scanned once')

  t.same(texts((await q({ pattern: 'TIMEOUT', ignoreCase: true })).hits),
    ['GET /slow 504 upstream timeout', 'POST /pay Timeout talking to bank', 'web timeout here'], '-i')
  t.same(texts((await q({ pattern: '^(GET|POST) /\\w+ (504|200)$', regex: true })).hits), ['GET /x 200'],
    'a regular expression is anchored per line')
  const limited = await q({ pattern: 'GET', limit: 2 })
  t.same(texts(limited.hits), ['GET / 200', 'GET /slow 504 upstream timeout'])
  t.equal(limited.truncated, true, 'limit stops the scan')
  t.equal(limited.scannedBytes, 41 + 45, 'at the window that reached it')

  t.same(texts((await q({ pattern: 'timeout', ignoreCase: true, since: 2000 })).hits),
    ['POST /pay Timeout talking to bank'], 'since: only entries written from then on')
  t.same(texts((await q({ pattern: 'timeout', ignoreCase: true, until: 1500 })).hits),
    ['GET /slow 504 upstream timeout', 'web timeout here'], 'until: only entries written up to then')
  t.same((await q({ pattern: 'timeout', since: 3000 })).hits, [], 'a range with nothing in it')
  const web = selectSources(store, () => true, 'prod/web*')
  t.same(texts((await grep(store, web, { ...everything, pattern: 'timeout' })).hits),
    ['web timeout here'], 'a source glob on the path')
})

t.test('grep: match offsets count characters; a range that starts inside a line starts at the next one', async t => {
  const { store, write } = open(t)
  await write('n/a/u.log', 'héllo wörld\nnothing\n')
  for (const regex of [false, true]) {
    const [hit] = (await grep(store, all(store), { ...everything, pattern: 'wörld', regex })).hits
    t.match(hit, { text: 'héllo wörld', match: [6, 11] }, regex ? 'regex' : 'literal')
  }
  await write('n/a/x.log', 'a1\na2-par', { ts: 1000 })
  await write('n/a/x.log', 'tial\na3\n', { ts: 2000 })
  const x = selectSources(store, () => true, 'a/x.log')
  t.same(texts((await grep(store, x, { ...everything, pattern: 'a', since: 2000 })).hits), ['a3'],
    'the cut line is skipped')
  t.same(texts((await grep(store, x, { ...everything, pattern: 'a', until: 1000 })).hits), ['a1', 'a2-par'],
    'the range ends where its last entry ends')
})

/** Numbered lines of WIDTH bytes, so a line's cursor is its number times the width; every 1000th is marked. */
const WIDTH = 60
const numbered = (from: number, to: number): string => {
  let out = ''
  for (let i = from; i < to; i++) {
    out += `line ${String(i).padStart(7, '0')} ${i % 1000 === 0 ? 'h' : '-'} ${'.'.repeat(44)}\n`
  }
  return out
}
const line = (i: number): string => numbered(i, i + 1).slice(0, -1)

t.test('grep over several windows: every hit once, at its cursor, lines whole across window edges', async t => {
  const { store, writeMany } = open(t)
  const LINES = 80_000
  const parts: string[] = []
  // Entries that do not end at line ends, so lines are cut across entries too.
  const text = numbered(0, LINES)
  for (let at = 0; at < text.length; at += 65_537) parts.push(text.slice(at, at + 65_537))
  await writeMany('n/a/big.log', parts)
  const expected = Array.from({ length: LINES / 1000 }, (_, k) => k * 1000)
  const result = await grep(store, all(store), { ...everything, pattern: ' h', limit: 10_000 })
  t.equal(result.scannedBytes, LINES * WIDTH)
  t.same(result.hits.map(h => h.cursor), expected.map(i => `1:${i * WIDTH}`))
  t.same(result.hits.map(h => h.text), expected.map(line))
  // The line across the first window's edge (4 MiB is inside it): whole, and found once.
  const edge = Math.floor((4 << 20) / WIDTH)
  t.ok(edge * WIDTH < 4 << 20)
  const across = await grep(store, all(store), { ...everything, pattern: `line ${String(edge).padStart(7, '0')}` })
  t.same(texts(across.hits), [line(edge)])
  const re = await grep(store, all(store), { ...everything, pattern: 'line 00([1-9])\\1(000) h', regex: true })
  t.same(texts(re.hits), [11, 22, 33, 44, 55, 66, 77].map(k => line(k * 1000)), 'regex across windows')
  // A scan limit past the first window and inside a line: the search stops after the last whole line it holds.
  const scan = (4 << 20) + 300_007
  const capped = await grep(store, all(store), { ...everything, pattern: ' h', limit: 10_000, scan })
  const read = Math.floor(scan / WIDTH)
  t.match(capped, { truncated: true, scanLimited: true, scannedBytes: read * WIDTH }, 'whole lines up to the limit')
  t.same(texts(capped.hits), expected.filter(i => i < read).map(line), 'the hits in what it read')
  const roomy = await grep(store, all(store), { ...everything, pattern: ' h', limit: 10_000, scan: LINES * WIDTH })
  t.match(roomy, { truncated: false, scanLimited: false, scannedBytes: LINES * WIDTH }, 'a limit that holds it all')
})

t.test('a scan in progress keeps its place while an older generation arrives and retention removes bytes', async t => {
  // Times in the future, so that retention by age removes nothing until asked to with a later `now`.
  const ts = Date.now() + 1e9
  const { store, write, source } = open(t, { segmentBytes: 1 << 20, retentionMs: 1 })
  // Five segments of whole lines, each just over segmentBytes, then the newest one with the tail.
  const parts = Array.from({ length: 5 }, (_, k) => numbered(k * 17_500, (k + 1) * 17_500))
  for (const part of parts) await write('n/a/x.log', part, { gen: 5, ts })
  const head = parts.join('')
  const tail = numbered(500_000, 500_100)
  await write('n/a/x.log', tail, { gen: 5, ts })
  const s = source('n/a/x.log')

  const scan = scanLines(s, 0, s.end)
  const first = (await scan.next()).value!
  t.ok(first.data.length > 3 << 20 && first.data.length <= 4 << 20, 'a first window of whole lines')
  await write('n/a/x.log', 'older\ngeneration\n', { gen: 4, ts })
  t.equal(s.logicalOf({ gen: 5, offset: 0 }), 17, 'positions moved')
  const rest: Buffer[] = []
  for await (const w of scan) rest.push(w.data)
  t.equal(Buffer.concat([first.data, ...rest]).toString(), head + tail, 'the rest follows on by cursor')

  // Retention takes every segment but the newest, under a read in flight: the grep goes on with what is left.
  const during = grep(store, [s], { ...everything, pattern: 'line', limit: 10_000 })
  store.applyRetention(ts + 1e9)
  t.equal(s.end, 17 + tail.length, 'retention left the newest segment only: the older generation and the tail')
  const result = await during
  t.same(texts(result.hits), tail.trimEnd().split('\n'), 'hits from what retention left, none garbled')
  t.equal(result.hits[0].cursor, `5:${head.length}`)
})

t.test('query errors say what is wrong in query terms: a kind, not a status', async t => {
  const { store, write } = open(t)
  await write('n1/a/x.log', 'x\n', { ts: 5000 })
  await write('n2/a/x.log', 'x\n', { ts: 6000 })
  const q = (over: Partial<GrepQuery>): ReturnType<typeof grep> =>
    grep(store, all(store), { ...everything, pattern: '', ...over })
  await rejectsWith(t, q({}), 'bad-input', /^the pattern is empty$/)
  await rejectsWith(t, q({ pattern: '([unclosed', regex: true }), 'bad-input', /^invalid regular expression: /)
  const allowed = (tenant: string): boolean => tenant === 'a'
  await rejectsWith(t, () => resolveSource(store, allowed, null), 'bad-input', /^parameter source is required$/)
  await rejectsWith(t, () => resolveSource(store, allowed, 'a/x.log'), 'bad-input',
    /^source a\/x.log is ambiguous: n1\/a\/x.log, n2\/a\/x.log$/)
  await rejectsWith(t, () => resolveSource(store, allowed, 'n/none'), 'not-found', /^unknown source n\/none$/)
  await rejectsWith(t, () => resolveSource(store, () => false, 'n1/a/x.log'), 'not-found', /^unknown source/)
  t.equal(resolveSource(store, allowed, 'n1/a/x.log').source, 'n1/a/x.log')
  await rejectsWith(t, () => checkRange(store, 2, 1), 'bad-input', /^since is after until$/)
  await rejectsWith(t, () => checkRange(store, undefined, 4999), 'gone', /retention has removed it$/)
  checkRange(store, undefined, 5000)
})

t.test('scan slots: every core while no ingest goes on, one left to the event loop while it does', async t => {
  let ingesting = false
  const slots = new ScanSlots(2, () => ingesting)
  let running = 0
  let most = 0
  const order: number[] = []
  const task = (i: number, ms: number) => () => new Promise<number>(resolve => {
    running++
    most = Math.max(most, running)
    setTimeout(() => { running--; order.push(i); resolve(i) }, ms)
  })
  t.same(await Promise.all([0, 1, 2, 3].map(i => slots.run(task(i, 20)))), [0, 1, 2, 3])
  t.equal(most, 2, 'no ingest: both cores')
  ingesting = true
  most = 0
  order.length = 0
  await Promise.all([0, 1, 2, 3].map(i => slots.run(task(i, 5))))
  t.equal(most, 1, 'ingest going on: one core, the other left to the event loop')
  t.same(order, [0, 1, 2, 3], 'in the order asked')
  await t.rejects(slots.run(() => Promise.reject(new Error('boom'))), /boom/)
  t.equal(slots.allowed, 1)
  ingesting = false
  most = 0
  await Promise.all([0, 1].map(i => slots.run(task(i, 5))))
  t.equal(most, 2, 'a failed task gave its slot back')
})
