// Index snapshots of gateways (lib/jetstream/snapshot.ts, snapshots.ts), on a real 3-node JetStream cluster: a
// gateway started after a snapshot was written loads it and reads only the stream's messages after it, and
// answers as the gateway that wrote it (sources, bytes, reads, grep, context); a third does too. A corrupt
// snapshot, or one of another format version, is not used: the gateway reads the stream instead, and writes a
// good one in its place; a put over a replaced revision is refused. Retention after a snapshot. In process: the
// format keeps every extent as it was (generations, gaps, times that go back).
import t from 'tap'
import { pack } from 'msgpackr'
import { cli, readSource, sources, waitFor, type Server } from './helpers/cluster'
import { answers, bucket, cluster, gateway, linkTo, metric, sendAs } from './helpers/gateways'
import type { ServerLink } from '../lib/ship/link'
import { SourceIndex, type ExtentReader } from '../lib/store/source'
import type { MessageExtent } from '../lib/jetstream/payloads'
import {
  SnapshotError, applySnapshot, capture, decodeSnapshot, encodeSnapshot, type SnapshotIndex,
} from '../lib/jetstream/snapshot'
import { streamName } from '../lib/jetstream/subjects'

const TENANT = 'snap'
const STREAM = `LOGFS_${TENANT}`
const FILES = ['a.log', 'b.log', 'c.log', 'd.log']

/**
 * Writes `count` messages through `g`, spread over the tenant's sources (one node each, as one agent each), each
 * its own batch: lines numbered from `from`, a rare token in every 97th. Source c skips 100 bytes once (a gap);
 * source d goes on in a second generation (its agent restarted) half way.
 */
async function fill (g: Server, from: number, count: number, at: Map<string, number>): Promise<void> {
  await Promise.all(FILES.map(async (file, k) => {
    let link = linkTo(g)
    try {
      for (let n = from + k; n < from + count; n += FILES.length) {
        const text = Array.from({ length: 1 + n % 5 }, (_, i) =>
          `${file} line ${n}.${i} ${n % 97 === 0 ? `needle-${n}` : 'hay'}\n`).join('')
        const gen = file === 'd.log' && n >= 300 ? 2 : 1
        if (gen === 2 && n - FILES.length < 300) {
          link.close()
          link = linkTo(g)
        }
        const key = `${file}:${gen}`
        let offset = at.get(key) ?? 0
        if (file === 'c.log' && n === 100 + k) offset += 100
        const recs: Array<[string, number, number, Buffer]> =
          [[`${TENANT}/${file}`, offset, 1_700_000_000_000 + n, Buffer.from(text)]]
        await sendAs(link, { node: nodeOf(file), tenant: TENANT, gen, recs })
        at.set(key, offset + text.length)
      }
    } finally {
      link.close()
    }
  }))
}

const nodeOf = (file: string): string => `n${file[0]}`

t.test('the format keeps every extent as it was: generations, gaps, times that go back, other streams', async t => {
  const reader: ExtentReader<MessageExtent> = { readSync: () => {}, read: async () => {} }
  const make = (): SourceIndex<MessageExtent> => new SourceIndex('n/t/x.log', 'n', 't', reader)
  const s = make()
  const runs: Array<[number, number, number, number, number, string]> = [
    [1, 0, 10, 5000, 3, 'LOGFS_t'], [1, 10, 7, 4000, 4, 'LOGFS_t'], [1, 117, 1, 4001, 9, 'LOGFS_t'],
    [2, 0, 1048576, 6000, 12, 'LOGFS_t'], [3, 5, 2, 1, 11, 'LOGFS_t'], [3, 7, 2, 2, 20, 'LOGFS_t'],
    [3, 9, 4, 3, 25, 'LOGFS_u'],
  ]
  for (const [gen, offset, length, timestamp, seq, stream] of runs) {
    s.add({ gen, offset, length, timestamp, seq, stream, src: s })
  }
  s.gapBytes = 100
  const view = (sources: Array<SourceIndex<MessageExtent>>, seq: number): SnapshotIndex =>
    ({ sources: () => sources, lastSeq: () => seq, pagesOf: () => [] })
  const snap = capture('LOGFS_t', 'created', 20, 3, view([s], 20))
  const back = await decodeSnapshot(await encodeSnapshot(snap))
  t.same(back, snap, 'decoded as encoded')
  const r = make()
  const seqs = new Map<string, number>()
  t.equal(applySnapshot(back, () => r, seqs, () => {}), 6, 'every extent of the stream up to its sequence')
  const place = (e: MessageExtent): unknown[] => [e.gen, e.offset, e.length, e.timestamp, e.seq, e.stream]
  t.same(r.extents.map(place), s.extents.filter(e => e.stream === 'LOGFS_t' && e.seq <= 20).map(place))
  t.same([...r.high], [...s.high], 'high-water marks')
  t.same([r.gapBytes, r.lastWrite, seqs.get('n/t/x.log')], [100, 6000, 20], 'gap, last write, last sequence')
  t.same(capture('LOGFS_t', 'created', 5, 3, view([s], 5)).sources[0].extents.seq, [3, 4],
    'an extent past the sequence is left out')
  const other = new SourceIndex<MessageExtent>('n/u/y.log', 'n', 'u', reader)
  other.add({ gen: 1, offset: 0, length: 5, timestamp: 1, seq: 2, stream: 'LOGFS_u', src: other })
  const emptied = new SourceIndex<MessageExtent>('n/t/gone.log', 'n', 't', reader)
  emptied.high.set(1, 4096)
  t.same(capture('LOGFS_t', 'created', 20, 3, view([s, other, emptied], 0)).sources.map(x => [x.name, x.high]),
    [['n/t/x.log', [1, 118, 2, 1048576, 3, 13]], ['n/t/gone.log', [1, 4096]]],
    "another tenant's source is not in it; a source retention emptied is, with its high-water marks")

  await t.rejects(decodeSnapshot(pack({ version: 1, sources: new Uint8Array(1) })),
    new SnapshotError("snapshot format version '1' is not 2"), 'another version')
  await t.rejects(decodeSnapshot(Buffer.from('garbage')), SnapshotError, 'garbage')
  const good = await encodeSnapshot(snap)
  await t.rejects(decodeSnapshot(good.subarray(0, good.length - 5)), SnapshotError, 'cut short')
})

t.test('a gateway started after a snapshot loads it, reads only what came after, and answers as the first; ' +
  'so does a third', async t => {
  const nats = await cluster(t)
  const g1 = await gateway(t, nats, ['--index-snapshot', '500'])
  const at = new Map<string, number>()
  await fill(g1, 0, 1000, at)
  // A second tenant, whose name is not plain: its stream (and its snapshot) is named by a hash.
  const other = linkTo(g1)
  for (let n = 0; n < 50; n++) {
    const line = Buffer.from(`other ${n}\n`)
    const recs: Array<[string, number, number, Buffer]> = [['team.two/x.log', n * line.length, Date.now(), line]]
    await other.send({ node: 'no', tenant: 'team.two', gen: 1, recs })
  }
  other.close()
  const objects = await bucket(t, nats)
  const otherStream = streamName('team.two')
  t.match(otherStream, /^LOGFS_=[0-9a-f]{32}$/, 'a hashed stream name')
  await waitFor('a snapshot of the other tenant', async () =>
    Number((await objects.info(otherStream))?.metadata?.seq) === 50, 60_000)
  const snapshotted = await waitFor('a snapshot of the whole stream', async () => {
    const info = await objects.info(STREAM)
    return info !== null && Number(info.metadata?.seq) === 1000 && info
  }, 60_000)
  t.equal(snapshotted.metadata?.version, '2', 'its format version is in its metadata')
  t.ok(snapshotted.size < 1000 * 8, `a few bytes per message (${snapshotted.size} bytes for 1000)`)
  t.ok(await metric(g1, 'logfs_jetstream_snapshots_written_total') >= 1, 'counted')
  // Fewer than a tenth of the stream: no gateway writes another meanwhile.
  await fill(g1, 1000, 80, at)

  const g2 = await gateway(t, nats)
  t.equal(await metric(g2, 'logfs_jetstream_snapshot_loaded_messages'), 1050, 'the new gateway loaded the snapshots')
  t.equal(await metric(g2, 'logfs_jetstream_replayed_messages_total'), 80, 'and read only the messages after them')
  t.equal(await metric(g2, 'logfs_jetstream_messages'), 1130, 'it lists every message')
  const first = await answers(g1)
  t.same(await answers(g2), first, 'same sources, bytes, grep hits and context as the first gateway')
  const list = await sources(g2)
  t.equal(list.find(s => s.source === 'nc/snap/c.log')?.gapBytes, 100, 'the gap is known')

  const g3 = await gateway(t, nats)
  t.same(await answers(g3), first, 'a third gateway gives the same answers')
  t.equal(await metric(g3, 'logfs_jetstream_replayed_messages_total'), 80, 'and it too read only the tail')

  // What the loaded index knows of the past holds for ingest: a resend is a duplicate, the next bytes go on.
  const link = linkTo(g3)
  t.teardown(() => link.close())
  const resend = await link.send({
    node: 'na', tenant: TENANT, gen: 1, recs: [[`${TENANT}/a.log`, 0, Date.now(), Buffer.from('a.log line 0.0 hay\n')]],
  })
  t.match(resend.ack, { stored: 0, duplicate: 19 }, 'a resend through the new gateway is a duplicate')
  const next = Buffer.from('after the snapshot\n')
  const more = await link.send({
    node: 'na', tenant: TENANT, gen: 1, recs: [[`${TENANT}/a.log`, at.get('a.log:1')!, Date.now(), next]],
  })
  t.match(more.ack, { stored: next.length }, 'new bytes are stored after the last ones')
  for (const g of [g1, g2]) {
    await waitFor('the new bytes on every gateway', async () =>
      (await readSource(g, 'na/snap/a.log')).toString().endsWith('after the snapshot\n'))
  }
  t.pass('every gateway reads them')
})

t.test('a corrupt snapshot, or one of another format version, is not used: the stream is read instead',
  async t => {
    const nats = await cluster(t)
    const g1 = await gateway(t, nats, ['--index-snapshot', '0'])
    await fill(g1, 0, 200, new Map())
    const first = await answers(g1)
    const objects = await bucket(t, nats)
    t.equal(await objects.info(STREAM), null, '--index-snapshot 0 writes none')
    for (const [what, metadata, bytes] of [
      ['corrupt bytes', { version: '2', seq: '150' }, Buffer.from('not a snapshot')],
      ['another format version', { version: '3', seq: '150' }, Buffer.from('from a newer gateway')],
      ['a version 2 label on other contents', { version: '2', seq: '150' }, pack({ version: 3 })],
    ] as Array<[string, Record<string, string>, Buffer]>) {
      await objects.putBlob({ name: STREAM, metadata }, bytes)
      const g = await gateway(t, nats, ['--index-snapshot', '0'])
      t.equal(await metric(g, 'logfs_jetstream_snapshots_ignored_total'), 1, `${what}: not used`)
      t.equal(await metric(g, 'logfs_jetstream_replayed_messages_total'), 200, `${what}: the whole stream read`)
      t.match(g.stderr, /index snapshot of LOGFS_snap not used, reading the stream instead/, `${what}: logged`)
      t.same(await answers(g), first, `${what}: same answers`)
      g.proc.kill('SIGKILL')
      await g.exited
    }
    // What keeps two gateways writing at once from replacing a newer snapshot with an older one: a put names the
    // revision it replaces.
    const seen = (await objects.info(STREAM))!
    await objects.putBlob({ name: STREAM }, Buffer.from('first'), { previousRevision: seen.revision })
    await t.rejects(objects.putBlob({ name: STREAM }, Buffer.from('second'), { previousRevision: seen.revision }),
      { code: 10071 }, 'a put over a revision replaced since is refused')
    t.equal(Buffer.from((await objects.getBlob(STREAM))!).toString(), 'first', 'the first stands')

    // A gateway that could not use a snapshot writes one in its place, however near the stream's end it claims to be.
    await objects.putBlob({ name: STREAM, metadata: { version: '2', seq: '199' } }, Buffer.from('not a snapshot'))
    const healer = await gateway(t, nats)
    t.equal(await metric(healer, 'logfs_jetstream_snapshots_ignored_total'), 1, 'a corrupt snapshot near the end')
    await waitFor('a snapshot in its place', async () => Number((await objects.info(STREAM))?.metadata?.seq) === 200,
      30_000)
    const g = await gateway(t, nats)
    t.equal(await metric(g, 'logfs_jetstream_snapshot_loaded_messages'), 200, 'the next gateway loads it')
    t.same(await answers(g), first, 'and answers the same')
  })

t.test('a snapshot that holds messages retention removed since: the new gateway drops them, and still knows ' +
  'their bytes', async t => {
  const nats = await cluster(t)
  const g1 = await gateway(t, nats, ['--retention-age', '10s', '--index-snapshot', '1'])
  const link = linkTo(g1)
  t.teardown(() => link.close())
  const batch = (offset: number, data: Buffer): Parameters<ServerLink['send']>[0] =>
    ({ node: 'na', tenant: TENANT, gen: 1, recs: [[`${TENANT}/a.log`, offset, Date.now(), data]] })
  const old = Buffer.from('old line\n')
  const sent = Date.now()
  for (let k = 0; k < 5; k++) await link.send(batch(k * old.length, old))
  const objects = await bucket(t, nats)
  // Written at the gateway's first look, within 5 s: before retention removes the messages (10 s).
  await waitFor('a snapshot of the old messages', async () => Number((await objects.info(STREAM))?.metadata?.seq) === 5,
    30_000)
  await new Promise(resolve => setTimeout(resolve, 10_500 - (Date.now() - sent)))
  const fresh = Buffer.from('new line\n')
  await link.send(batch(5 * old.length, fresh))
  await waitFor('retention on the first gateway', async () => (await sources(g1))[0]?.bytes === fresh.length)
  // The agent moves to the new gateway.
  link.close()

  const g2 = await gateway(t, nats, ['--retention-age', '10s', '--index-snapshot', '0'])
  t.equal(await metric(g2, 'logfs_jetstream_snapshot_loaded_messages'), 5, 'the snapshot was loaded')
  t.same(await sources(g2), await sources(g1), 'the removed messages are gone from the new gateway too')
  t.equal((await readSource(g2, 'na/snap/a.log')).toString(), 'new line\n', 'only the new bytes are read')
  const l2 = linkTo(g2)
  t.teardown(() => l2.close())
  const resend = await l2.send(batch(0, old))
  t.match(resend.ack, { stored: 0, duplicate: old.length }, 'a resend of removed bytes is a duplicate')
})

t.test('a bad --index-snapshot: a clear message and exit 2, before the cluster is dialled', async t => {
  const r = await cli(['server', '--listen', '127.0.0.1:0', '--store', 'nats://127.0.0.1:1', '--index-snapshot', '1k'])
  t.equal(r.code, 2)
  t.match(r.stderr, /--index-snapshot: '1k' must be a whole number from 0 to/)
})
