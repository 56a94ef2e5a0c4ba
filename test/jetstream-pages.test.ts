// Index pages (lib/jetstream/page.ts, pages.ts): a gateway keeps a source's older entries in pages in the cluster
// and lets go of them when it holds more than --index-entries. On a real 3-node JetStream cluster: a gateway that
// starts from a snapshot with pages holds none of them, answers as the gateway that wrote everything, lets go of
// the entries again once no query uses them, and still takes appends and refuses resends of the released sources;
// retention (the stream's first sequence moving) drops whole pages of a released source, a page it cut through is
// exact once the source is restored, and the next snapshot deletes the page objects retention passed.
// In process: a released index keeps its totals and takes appends; restored, it is the index it was; a page reads
// back as written, and a page that is not the one its reference names is an error.
import t from 'tap'
import { pack } from 'msgpackr'
import { connect } from '@nats-io/transport-node'
import { jetstreamManager } from '@nats-io/jetstream'
import { cli, readSource, sources, waitFor, type Server, type SourceRow } from './helpers/cluster'
import { answers, bucket, cluster, gateway, linkTo, metric } from './helpers/gateways'
import { NotHeld, SourceIndex, type ExtentReader } from '../lib/store/source'
import type { MessageExtent } from '../lib/jetstream/payloads'
import { PageError, decodePage, encodePage, pageRef } from '../lib/jetstream/page'
import { PAGE_ENTRIES } from '../lib/jetstream/pages'
import type { ServerLink } from '../lib/ship/link'

const TENANT = 'paged'
const STREAM = `LOGFS_${TENANT}`

const reader: ExtentReader<MessageExtent> = { readSync: () => {}, read: async () => {} }

function indexOf (n: number): SourceIndex<MessageExtent> {
  const s = new SourceIndex<MessageExtent>('n/t/x.log', 'n', 't', reader)
  for (let i = 0; i < n; i++) {
    s.add({ gen: 1, offset: i * 10, length: 10, timestamp: 1000 + i, stream: 'LOGFS_t', seq: i + 1, src: s })
  }
  return s
}

const place = (e: MessageExtent): number[] => [e.gen, e.offset, e.length, e.timestamp, e.seq]

t.test('a released index keeps its totals and takes appends; restored, it is the index it was', async t => {
  const s = indexOf(10)
  const was = s.extents.map(place)
  const listing = [s.count, s.bytes, s.first(), s.next()]
  const paged = s.extents.slice(0, 6)
  s.release(6)
  t.notOk(s.held, 'released')
  t.throws(() => s.extents, NotHeld, 'a walk throws NotHeld')
  t.throws(() => s.cursorAt(5), NotHeld, 'so does any read of the entries')
  t.same([s.count, s.bytes, s.first(), s.next()], listing, 'count, bytes, first and next as before')
  t.same(s.addedSince.map(place), was.slice(6), 'the entries after the paged ones stay')
  s.add({ gen: 1, offset: 100, length: 5, timestamp: 2000, stream: 'LOGFS_t', seq: 11, src: s })
  t.same([s.count, s.bytes, s.next(), s.high.get(1), s.lastWrite], [11, 105, { gen: 1, offset: 105 }, 105, 2000],
    'an append while released counts, and moves the high-water mark')
  s.restore(paged)
  t.same(s.extents.map(place), [...was, [1, 100, 5, 2000, 11]], 'restored: every entry in order')
  t.equal(s.read(0, 0).length, 0)
  t.same([s.cursorAt(104), s.positionAtTime(2000)], [{ gen: 1, offset: 104 }, 100], 'positions as before')

  const r = indexOf(5)
  r.release(5)
  r.restore([], () => true)
  t.equal(r.count, 0, 'retention that took every paged entry leaves an empty index')
})

t.test('a page reads back as written; another page, a corrupt one or another version is an error', async t => {
  const s = indexOf(PAGE_ENTRIES)
  const x = s.extents
  const ref = pageRef(STREAM, s.source, x)
  t.same([ref.count, ref.bytes, ref.first, ref.last], [PAGE_ENTRIES, PAGE_ENTRIES * 10, 1, PAGE_ENTRIES])
  t.match(ref.name, new RegExp(`^${STREAM}\\.page\\.[0-9a-f]{24}\\.1-${PAGE_ENTRIES}$`), 'named so')
  const bytes = await encodePage(STREAM, s.source, x)
  t.ok(bytes.length < PAGE_ENTRIES * 2, `a few bytes per entry (${bytes.length} for ${PAGE_ENTRIES})`)
  const c = await decodePage(bytes, STREAM, s.source, ref)
  t.same(c.seq, x.map(e => e.seq), 'sequences')
  t.same(c.offset, x.map(e => e.offset), 'offsets')
  await t.rejects(decodePage(bytes, STREAM, 'n/t/other.log', ref), PageError, 'a page of another source')
  await t.rejects(decodePage(bytes, STREAM, s.source, { ...ref, count: 3 }), PageError, 'another count')
  await t.rejects(decodePage(pack({ version: 2 }), STREAM, s.source, ref), /format version '2' is not 1/)
  await t.rejects(decodePage(bytes.subarray(0, bytes.length - 9), STREAM, s.source, ref), PageError, 'cut short')
})

/** Line n of a source: all of one length, every 500th with a rare token. */
const lineOf = (source: string, n: number): Buffer => {
  const k = String(n).padStart(6, '0')
  return Buffer.from(`${source} line ${k} ${n % 500 === 7 ? 'needle' : 'haystk'}-${k}\n`)
}

/** Appends lines [from, from + count) to `source` through `link`, one batch each. */
async function write (link: ServerLink, source: string, from: number, count: number): Promise<void> {
  for (let n = from; n < from + count; n++) {
    const line = lineOf(source, n)
    const recs: Array<[string, number, number, Buffer]> =
      [[`${TENANT}/${source}`, n * line.length, 1_700_000_000_000 + n, line]]
    await link.send({ node: `n${source[0]}`, tenant: TENANT, gen: 1, recs })
  }
}

t.test('a gateway started from a snapshot with pages holds none of them, answers as the writer, lets go again, ' +
  'and still takes appends', async t => {
  const nats = await cluster(t)
  const g1 = await gateway(t, nats, ['--index-snapshot', '0'])
  const files = ['a.log', 'b.log']
  const count = PAGE_ENTRIES + 100
  // An agent per source (each its own node), as a DaemonSet's agents on several hosts.
  const links = new Map(['a.log', 'b.log', 's.log'].map(f => [f, linkTo(g1)]))
  t.teardown(() => { for (const l of links.values()) l.close() })
  await Promise.all(files.map(f => write(links.get(f)!, f, 0, count)))
  await write(links.get('s.log')!, 's.log', 0, 10)
  const total = files.length * count + 10

  // A gateway that writes snapshots cuts a page of each large source (whole pages only) and lists the rest inline.
  const g2 = await gateway(t, nats, ['--index-snapshot', '1'])
  const objects = await bucket(t, nats)
  await waitFor('a snapshot of the stream', async () => Number((await objects.info(STREAM))?.metadata?.seq) === total,
    60_000)
  t.equal(await metric(g2, 'logfs_jetstream_index_pages_written_total'), files.length, 'a page per large source')
  const pages = (await objects.list()).filter(o => o.name.startsWith(`${STREAM}.page.`))
  t.equal(pages.length, files.length, 'in the index bucket')
  const first = await answers(g1)

  const g3 = await gateway(t, nats, ['--index-snapshot', '0', '--index-entries', '0'])
  t.equal(await metric(g3, 'logfs_jetstream_index_released_sources'), files.length,
    'started from the snapshot, the new gateway holds none of the paged entries')
  t.equal(await metric(g3, 'logfs_jetstream_messages'), total, 'and lists every message')
  t.same(await sources(g3), await sources(g1), 'its listing is the first gateway\'s, without a page fetched')
  t.equal(await metric(g3, 'logfs_jetstream_index_pages_fetched_total'), 0)
  t.same(await answers(g3), first, 'reads, grep and context fetch the pages and answer as the first gateway')
  t.equal(await metric(g3, 'logfs_jetstream_index_pages_fetched_total'), files.length, 'each page fetched once')

  // Nothing uses them now, and the gateway may hold none: within two looks (5 s each) it lets go of them again.
  await waitFor('the entries let go again', async () =>
    await metric(g3, 'logfs_jetstream_index_released_sources') === files.length, 20_000)
  t.ok(await metric(g3, 'logfs_jetstream_index_releases_total') >= files.length, 'counted')
  t.same(await answers(g3, 'needle-004007'), await answers(g1, 'needle-004007'), 'a grep after that: the same answers')

  // The agent moves to the gateway holding nothing: a resend of paged bytes is a duplicate, new bytes go on.
  await waitFor('released again', async () =>
    await metric(g3, 'logfs_jetstream_index_released_sources') === files.length, 20_000)
  links.get('a.log')!.close()
  const l3 = linkTo(g3)
  t.teardown(() => l3.close())
  const line = lineOf('a.log', 0)
  const resend = await l3.send({ node: 'na', tenant: TENANT, gen: 1, recs: [[`${TENANT}/a.log`, 0, Date.now(), line]] })
  t.match(resend.ack, { stored: 0, duplicate: line.length }, 'a resend of paged bytes is a duplicate')
  await write(l3, 'a.log', count, 3)
  t.equal(await metric(g3, 'logfs_jetstream_index_released_sources'), files.length, 'appended to while released')
  const a = (await readSource(g3, 'na/paged/a.log')).toString()
  t.equal(a.split('\n').length - 1, count + 3, 'every line, the paged ones and the new')
  t.match(a.slice(-40), /line 004198 haystk-004198\n$/, 'the new bytes last')
  t.same(await sources(g3), await sources(g1), 'both gateways list the same')
})

t.test('retention of a released source: whole pages dropped, a page cut through is exact once restored, resends ' +
  'stay duplicates, and the next snapshot deletes the pages retention passed', async t => {
  const nats = await cluster(t)
  const g1 = await gateway(t, nats, ['--index-snapshot', '0'])
  const la = linkTo(g1)
  const ls = linkTo(g1)
  t.teardown(() => { la.close(); ls.close() })
  const count = PAGE_ENTRIES + 100
  await write(la, 'a.log', 0, count)
  await write(ls, 's.log', 0, 10)
  const g2 = await gateway(t, nats, ['--index-snapshot', '1', '--index-entries', '0'])
  const objects = await bucket(t, nats)
  const pageNames = async (): Promise<string[]> =>
    (await objects.list()).filter(o => o.name.startsWith(`${STREAM}.page.`)).map(o => o.name)
  await waitFor('a page of a.log', async () => (await pageNames()).length === 1, 60_000)
  await waitFor('a.log let go of', async () => await metric(g2, 'logfs_jetstream_index_released_sources') === 1,
    20_000)

  // Retention, as JetStream applies it: the stream's first sequence moves (here by a purge, at once).
  const nc = await connect({ servers: nats.url.replace('nats://', '').split(',') })
  t.teardown(() => nc.close())
  const jsm = await jetstreamManager(nc)
  await jsm.streams.purge(STREAM, { seq: 2001 })
  const aOn = async (g: Server): Promise<SourceRow | undefined> =>
    (await sources(g)).find(s => s.source === 'na/paged/a.log')
  const L = lineOf('a.log', 0).length
  await waitFor('retention on the first gateway', async () => (await aOn(g1))?.bytes === (count - 2000) * L, 20_000)
  t.equal((await aOn(g2))?.bytes, count * L, 'released, a.log counts the page retention cut through whole')
  const a = (await readSource(g2, 'na/paged/a.log')).toString()
  t.equal(a.split('\n')[0], lineOf('a.log', 2000).toString().trimEnd(), 'read, it starts at the first kept line')
  t.same(await aOn(g2), await aOn(g1), 'and once restored it lists exactly what is left')
  const resend = await linkTo(g2).send({ node: 'na', tenant: TENANT, gen: 1,
    recs: [[`${TENANT}/a.log`, 0, Date.now(), lineOf('a.log', 0)]] })
  t.match(resend.ack, { stored: 0, duplicate: L }, 'a resend of bytes retention removed is a duplicate')

  // Past the page: it is dropped, and the next snapshot of the stream (a new message makes one due) deletes it.
  await waitFor('a.log let go of again', async () => await metric(g2, 'logfs_jetstream_index_released_sources') === 1,
    20_000)
  await jsm.streams.purge(STREAM, { seq: PAGE_ENTRIES + 50 })
  const left = (count - PAGE_ENTRIES - 49) * L
  await waitFor('retention on the first gateway', async () => (await aOn(g1))?.bytes === left, 20_000)
  await waitFor('retention on the second', async () => (await aOn(g2))?.bytes === left, 20_000)
  t.pass('a released source that retention took every page of lists exactly what is left')
  await write(ls, 's.log', 10, 1)
  await waitFor('the page object deleted', async () => (await pageNames()).length === 0, 60_000)
  t.pass('the next snapshot deleted the page object')
  const g3 = await gateway(t, nats, ['--index-snapshot', '0'])
  t.same(await answers(g3), await answers(g1), 'a gateway started from that snapshot answers as the first')
})

t.test('a bad --index-entries: a clear message and exit 2, before the cluster is dialled', async t => {
  const r = await cli(['server', '--listen', '127.0.0.1:0', '--store', 'nats://127.0.0.1:1', '--index-entries', '1k'])
  t.equal(r.code, 2)
  t.match(r.stderr, /--index-entries: '1k' must be a whole number from 0 to/)
})
