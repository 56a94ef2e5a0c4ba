// Token filters in the cluster: gateways of a real 3-node JetStream cluster build filters per block of messages into
// the tenant's filters bucket, and a grep through any gateway reads only the blocks they allow. Pruned answers equal
// a scan (a gateway with --no-token-filters) at message, block and group edges and for a token cut across two
// messages; the gateway building is SIGKILLed mid-build and another completes the filters; the stream's and the
// filters bucket's leaders are SIGKILLed while filters are built.
import t, { type Test } from 'tap'
import { connect } from '@nats-io/transport-node'
import { Kvm } from '@nats-io/kv'
import { jetstreamManager } from '@nats-io/jetstream'
import {
  TOKEN, api, cli, natsCluster as cluster, readSource, sources, startGateway as gateway, tempDir, waitFor,
  type Server,
} from './helpers/cluster'
import type { NatsCluster } from '../bench/natscluster'
import { ServerLink } from '../lib/ship/link'
import type { GrepResult } from '../lib/query/grep'
import { PARTITIONS, decodeGroup, partitionFilters, partitionOf } from '../lib/jetstream/filter-format'

function linkTo (t: Test, s: Server): ServerLink {
  const l = new ServerLink({ urls: [`${s.ws}/v1/ingest`], token: TOKEN, timeoutMs: 15000, compress: false })
  t.teardown(() => l.close())
  return l
}

/** Writes the source's runs, one batch (one message) each, from offset `at`; the offset after them. */
async function write (l: ServerLink, source: string, at: number, runs: string[]): Promise<number> {
  for (const text of runs) {
    await l.send({ node: 'n1', tenant: 'flt', gen: 1, recs: [[source, at, Date.now(), Buffer.from(text)]] })
    at += Buffer.byteLength(text)
  }
  return at
}

/** `count` runs of about `bytes` each; line i holds `id<i>`, and each run's first and last line a rare token. */
function runs (tag: string, count: number, bytes: number): string[] {
  const out: string[] = []
  let i = 0
  for (let r = 0; r < count; r++) {
    const lines = [`first-${tag}${r}x rare\n`]
    let n = lines[0].length
    while (n < bytes) {
      const line = `${tag} line id${tag}${i++} value=${(i * 7919) % 10007} ok\n`
      lines.push(line)
      n += line.length
    }
    lines.push(`last-${tag}${r}x rare\n`)
    out.push(lines.join(''))
  }
  return out
}

interface Answer { hits: Array<{ source: string, cursor: string, text: string }>, result: GrepResult }

async function grep (s: Server, q: string, limit = 1000): Promise<Answer> {
  // -w: a word's edges are word boundaries, so a one-word pattern proves its token (query/literals.ts).
  const r = await api<GrepResult>(s, `/v1/grep?q=${encodeURIComponent(q)}&limit=${limit}&w=1`)
  if (r.status !== 200) throw new Error(`grep ${q}: ${r.status} ${JSON.stringify(r.body)}`)
  return { hits: r.body.hits.map(h => ({ source: h.source, cursor: h.cursor, text: h.text })), result: r.body }
}

/** Whether the groups in the tenant's bucket cover every sequence of its stream; and how many groups there are. */
async function coverage (nats: NatsCluster, tenant: string): Promise<{ covered: boolean, groups: number }> {
  const nc = await connect({ servers: nats.url.replace('nats://', '').split(',') })
  try {
    const { state } = await (await jetstreamManager(nc)).streams.info(`LOGFS_${tenant}`)
    const kv = await new Kvm(nc).open(`LOGFS_FILTERS_${tenant}`)
    const groups = []
    for await (const k of await kv.keys('g.>')) {
      const e = await kv.get(k)
      if (e !== null && e.operation === 'PUT') groups.push(decodeGroup(e.value))
    }
    groups.sort((a, b) => a.first - b.first)
    let next = 1
    for (const g of groups) {
      if (g.first > Math.max(next, state.first_seq)) return { covered: false, groups: groups.length }
      next = Math.max(next, g.last + 1)
    }
    return { covered: next > state.last_seq, groups: groups.length }
  } finally {
    await nc.close()
  }
}

async function metric (s: Server, name: string): Promise<number> {
  const text = await (await fetch(`${s.http}/metrics`)).text()
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text)
  return m ? Number(m[1]) : NaN
}

async function leaseHolderPid (nats: NatsCluster, tenant: string): Promise<number | null> {
  const nc = await connect({ servers: nats.url.replace('nats://', '').split(',') })
  try {
    const kv = await new Kvm(nc).open(`LOGFS_FILTERS_${tenant}`)
    const e = await kv.get('lease')
    return e !== null && e.operation === 'PUT' ? (e.json<{ pid: number }>()).pid : null
  } finally {
    await nc.close()
  }
}

const QUERIES = ['first-a0x', 'last-a3x', 'first-b2x', 'last-b5x', 'ida17', 'idb999', 'splittoken42',
  'nosuchtoken', 'ida1234 value', 'last-c1x rare']

t.test('pruned greps equal a scan across message, block and group edges and a token cut across messages; ' +
  'a rare token reads a fraction of the stream', async t => {
  const nats = await cluster(t)
  const [g1, g2, plain] = await Promise.all([gateway(t, nats), gateway(t, nats),
    gateway(t, nats, ['--no-token-filters'])])
  const l1 = linkTo(t, g1)
  // Phase a: 12 runs of 200 KiB (about 9 blocks), then idle, so the builder groups them.
  let at = await write(l1, 'flt/a.log', 0, runs('a', 12, 200 * 1024))
  // A token cut across two messages of one source, with a message of another source between them.
  at = await write(l1, 'flt/a.log', at, ['x\nthe splitto'])
  await write(l1, 'flt/c.log', 0, runs('c', 2, 1024))
  at = await write(l1, 'flt/a.log', at, ['ken42 here\n'])
  await waitFor('phase a filtered', async () => (await coverage(nats, 'flt')).covered, 30_000)
  // Phase b, after the first group: a second source, and more of the first; then idle again.
  const bAt = await write(l1, 'flt/b.log', 0, runs('b', 8, 300 * 1024))
  await write(l1, 'flt/a.log', at, runs('a2', 3, 100 * 1024))
  const cov = await waitFor('phase b filtered', async () => {
    const c = await coverage(nats, 'flt')
    return c.covered && c.groups >= 2 && c
  }, 30_000)
  t.ok(cov.groups >= 2, `${cov.groups} groups cover the stream`)
  const filterBytes = await metric(g2, 'logfs_jetstream_filter_bytes')
  const filtered = await metric(g2, 'logfs_jetstream_filtered_bytes')
  t.ok(filtered > 4 * 1024 * 1024, `the filters cover ${filtered} bytes`)
  t.comment(`filters: ${filterBytes} bytes, ${(100 * filterBytes / filtered).toFixed(1)} % of the data ` +
    '(every line here holds a unique id)')

  const total = (await sources(g1)).reduce((n, s) => n + s.bytes, 0)
  for (const q of QUERIES) {
    const scan = await grep(plain, q)
    t.equal(scan.result.indexed, false, `${q}: the gateway without filters scans`)
    for (const g of [g1, g2]) {
      const pruned = await grep(g, q)
      t.same(pruned.hits, scan.hits, `${q}: same hits as a scan (${pruned.hits.length})`)
      t.equal(pruned.result.indexed, true, `${q}: filters used`)
      t.equal(pruned.result.unindexedBytes, 0, `${q}: every message filtered`)
    }
  }
  t.equal((await grep(g1, 'splittoken42')).hits.length, 1, 'the token cut across two messages is found')
  const rare = await grep(g2, 'last-b5x')
  t.equal(rare.hits.length, 1)
  t.ok(rare.result.scannedBytes < total / 8,
    `a rare token read ${rare.result.scannedBytes} of ${total} bytes`)

  // Bytes no group covers yet are read whole, and the answer says how many.
  await write(l1, 'flt/b.log', bAt, ['late-token-77 fresh\n'])
  const fresh = await grep(g1, 'late-token-77')
  t.equal(fresh.hits.length, 1, 'a message not filtered yet is searched')
  t.ok(fresh.result.unindexedBytes > 0, `unindexedBytes ${fresh.result.unindexedBytes}`)
})

t.test('the gateway building filters is SIGKILLed mid-build: another completes them; answers stay right',
  async t => {
    const nats = await cluster(t)
    const gs = await Promise.all([gateway(t, nats), gateway(t, nats)])
    const plain = await gateway(t, nats, ['--no-token-filters'])
    let at = await write(linkTo(t, gs[0]), 'flt/a.log', 0, runs('a', 6, 200 * 1024))
    await waitFor('a first group', async () => (await coverage(nats, 'flt')).covered, 30_000)
    const pid = await leaseHolderPid(nats, 'flt')
    const holder = gs.find(g => g.proc.pid === pid)
    t.ok(holder, `a gateway (pid ${pid}) holds the lease`)
    const other = gs.find(g => g !== holder)!
    const l = linkTo(t, other)
    at = await write(l, 'flt/a.log', at, runs('b', 6, 200 * 1024))
    holder!.proc.kill('SIGKILL')
    await holder!.exited
    await write(l, 'flt/a.log', at, runs('c', 6, 200 * 1024))
    t.notOk((await coverage(nats, 'flt')).covered, 'not filtered yet when the builder died')
    const taken = await waitFor('the other gateway takes over', async () =>
      (await leaseHolderPid(nats, 'flt')) === other.proc.pid, 30_000)
    t.ok(taken, 'the survivor holds the lease')
    await waitFor('filters complete', async () => (await coverage(nats, 'flt')).covered, 30_000)
    for (const q of ['first-a0x', 'last-b5x', 'first-c3x', 'idb500', 'idc12']) {
      const scan = await grep(plain, q)
      const pruned = await grep(other, q)
      t.same(pruned.hits, scan.hits, `${q}: same hits as a scan (${pruned.hits.length})`)
      t.equal(pruned.result.unindexedBytes, 0, `${q}: every message filtered`)
    }
  })

t.test("a group's partitions: each block's hashes of one partition, whatever their order", async t => {
  const blocks = [0, 1, 2].map(k => Uint32Array.from({ length: 2000 + k }, (_, i) => ((i + k) * 2654435761) >>> 0))
  const sorted = blocks.map(b => Uint32Array.from(new Set(b)).sort())
  const built = partitionFilters(sorted)
  t.same(partitionFilters(blocks.map(b => Uint32Array.from(new Set(b)))), built, 'unsorted hashes: the same filters')
  t.equal(built.partitions.length, PARTITIONS)
  const only = partitionFilters([Uint32Array.of(5 << 26, (5 << 26) + 1)])
  t.ok(only.partitions.every((p, pp) => pp === partitionOf(5 << 26) || p.every(byte => byte === 0)),
    'hashes of one partition set bits in its filter alone')
})

t.test('--no-token-filters is a gateway flag', async t => {
  const r = await cli(['server', '--no-token-filters', '--data-dir', tempDir(t, 'nf'), '--listen', '127.0.0.1:0'])
  t.equal(r.code, 2, 'bad input')
  t.match(r.stderr, /--no-token-filters: only a gateway/)
})

t.test('the gateway building the filters of what it published reads none of it back from the cluster', async t => {
  const nats = await cluster(t)
  const g = await gateway(t, nats)
  const l = linkTo(t, g)
  // One batch at a time: the stream's consumer often delivers a message before its publish is acknowledged.
  await write(l, 'flt/a.log', 0, runs('a', 24, 128 * 1024))
  await waitFor('filtered', async () => (await coverage(nats, 'flt')).covered, 30_000)
  t.ok(await metric(g, 'logfs_jetstream_filtered_bytes') >= 24 * 128 * 1024, 'every message filtered')
  t.equal(await metric(g, 'logfs_jetstream_fetched_bytes_total'), 0,
    'the builder took every message from memory: none fetched from the cluster')
})

t.test('under steady ingest, blocks are grouped once they have waited 5 s, not when the stream goes idle',
  async t => {
    const nats = await cluster(t)
    const g = await gateway(t, nats)
    const l = linkTo(t, g)
    // About 640 KiB/s: a group of 256 blocks would take 100 s to fill.
    const started = Date.now()
    let at = 0
    let groups = 0
    for (let k = 0; Date.now() - started < 15_000 && groups === 0; k++) {
      at = await write(l, 'flt/s.log', at, runs(`s${k}`, 1, 64 * 1024))
      await new Promise(resolve => setTimeout(resolve, 100))
      if (k % 10 === 9) groups = (await coverage(nats, 'flt')).groups
    }
    t.ok(groups > 0, `a group was written while the stream was still written to (${groups} after ` +
      `${((Date.now() - started) / 1000).toFixed(1)} s)`)
    const scan = await grep(g, 'first-s30x')
    t.equal(scan.hits.length, 1, 'a rare token of the grouped part is found')
    t.equal(scan.result.indexed, true)
  })

t.test('retention: groups whose messages the stream dropped are deleted with their partitions', async t => {
  const nats = await cluster(t)
  // Long enough for the old runs to be grouped (after 5 s idle) before they expire, and the new ones to be queried.
  const g = await gateway(t, nats, ['--retention-age', '20s'])
  const l = linkTo(t, g)
  const at = await write(l, 'flt/a.log', 0, runs('old', 2, 200 * 1024))
  await waitFor('the old bytes filtered', async () => (await coverage(nats, 'flt')).covered, 30_000)
  const nc = await connect({ servers: nats.url.replace('nats://', '').split(',') })
  t.teardown(() => nc.close())
  const kv = await new Kvm(nc).open('LOGFS_FILTERS_flt')
  const keys = async (filter: string): Promise<string[]> => {
    const out: string[] = []
    for await (const k of await kv.keys(filter)) out.push(k)
    return out
  }
  const old = await keys('g.>')
  t.ok(old.length >= 1, 'a group')
  t.equal((await keys('p.>')).length, 64 * old.length, 'one key per partition of each group')
  await waitFor('the old groups deleted', async () => (await keys('g.>')).length === 0, 40_000)
  t.equal((await keys('p.>')).length, 0, 'their partitions went with them')
  // New runs after retention emptied the stream are filtered from where the builder is.
  await write(l, 'flt/a.log', at, runs('new', 2, 200 * 1024))
  await waitFor('the new bytes filtered', async () => (await coverage(nats, 'flt')).groups >= 1, 30_000)
  const hit = await grep(g, 'first-new1x')
  t.equal(hit.hits.length, 1, 'the new bytes are found through the filters')
  t.equal(hit.result.unindexedBytes, 0)
})

t.test('node kills while filters are built: the stream leader, then the filters bucket leader; nothing lost, ' +
  'answers equal a scan', async t => {
  const nats = await cluster(t)
  const g = await gateway(t, nats)
  const plain = await gateway(t, nats, ['--no-token-filters'])
  const l = linkTo(t, g)
  const all = runs('k', 24, 150 * 1024)
  // A run refused during an election (the gateway's publish deadline passed) is sent again with the same offset,
  // as an agent does: the store takes it exactly once.
  let at = 0
  const writing = (async () => {
    for (const text of all) {
      for (let tries = 0; ; tries++) {
        try {
          at = await write(l, 'flt/k.log', at, [text])
          break
        } catch (err) {
          if (tries > 60) throw err
          await new Promise(resolve => setTimeout(resolve, 500))
        }
      }
    }
  })()
  // The stream is made with the first batch, and a bucket whose leader was just killed may not answer this probe
  // for a while: either is "not yet".
  const probe = (): Promise<{ covered: boolean, groups: number }> =>
    coverage(nats, 'flt').catch(() => ({ covered: false, groups: 0 }))
  await waitFor('a first group', async () => (await probe()).groups >= 1, 60_000)
  for (const stream of ['LOGFS_flt', 'KV_LOGFS_FILTERS_flt']) {
    // Right after a node came back the cluster may not answer yet: ask until it names a leader.
    const { leader } = await waitFor(`${stream} has a leader`, async () =>
      await nats.leaderOf(stream).then(i => ({ leader: i }), () => undefined), 60_000)
    t.comment(`SIGKILL of ${stream}'s leader ${nats.nodes[leader].name}`)
    await nats.killNode(leader)
    await new Promise(resolve => setTimeout(resolve, 4000))
    await nats.startNode(leader)
  }
  await writing
  const expected = Buffer.from(all.join(''))
  const stored = await waitFor('every byte stored', async () => {
    const row = (await sources(g)).find(s => s.source === 'n1/flt/k.log')
    return row !== undefined && row.bytes >= expected.length && row
  }, 60_000)
  t.equal(stored.bytes, expected.length, 'every byte stored once')
  t.ok((await readSource(g, 'n1/flt/k.log')).equals(expected), 'the bytes as written, in order')
  await waitFor('filters complete', async () => (await probe()).covered, 60_000)
  for (const q of ['first-k0x', 'last-k11x', 'first-k23x', 'idk700', 'idk9000', 'nosuchtoken']) {
    const scan = await grep(plain, q)
    const pruned = await grep(g, q)
    t.same(pruned.hits, scan.hits, `${q}: same hits as a scan (${pruned.hits.length})`)
    t.equal(pruned.result.unindexedBytes, 0, `${q}: every message filtered`)
  }
})
