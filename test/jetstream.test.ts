// Scale-out: logfs servers as stateless gateways of a real 3-node JetStream cluster started here.
// Through two gateways and a real mount, under writers: a SIGKILL of the stream's leader, a SIGKILL of the
// gateway the agent uses (it moves to the other), and a restart of both gateways; then every line exactly once and
// in order, read through either gateway. Also: resends deduplicated, two writers racing on one source, reads while
// a node is down, every read command (LogQL queries too) through the gateway that did not take the bytes,
// retention, bad flags.
import t, { type Test } from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { connect } from '@nats-io/transport-node'
import { jetstream } from '@nats-io/jetstream'
import {
  TOKEN, api, checkExactlyOnce, cli, readSource, run, sleep, sources, startAgent, startServer, waitFor,
  type Server,
} from './helpers/cluster'
import { NatsCluster } from '../bench/natscluster'
import { runSteady } from '../bench/steadywriter'
import { ServerLink } from '../lib/ship/link'
import { runHeaders, runId } from '../lib/jetstream/message'
import { sourceSubject } from '../lib/jetstream/subjects'

async function cluster (t: Test): Promise<NatsCluster> {
  const nats = await NatsCluster.start(3)
  t.teardown(() => nats.stop())
  return nats
}

function gatewayArgs (nats: NatsCluster, extra: string[] = []): string[] {
  return ['--store', nats.url, '--replicas', '3', '--retention-size', '256MiB', ...extra]
}

/** A gateway on `port` (0: any), with the teardown the helpers give every server. */
function gateway (t: Test, nats: NatsCluster, port = 0, extra: string[] = []): Promise<Server> {
  return startServer(t, { port, args: gatewayArgs(nats, extra) })
}

async function stop (s: Server, signal: NodeJS.Signals): Promise<void> {
  s.proc.kill(signal)
  await s.exited
}

async function metric (s: Server, name: string): Promise<number> {
  const text = await (await fetch(`${s.http}/metrics`)).text()
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text)
  return m ? Number(m[1]) : NaN
}

function linkTo (s: Server): ServerLink {
  return new ServerLink({ urls: [`${s.ws}/v1/ingest`], token: TOKEN, timeoutMs: 15000, compress: false })
}

t.test('two gateways, a mount and writers: leader SIGKILL, gateway SIGKILL, both gateways restarted; ' +
  'every line once, in order', async t => {
    const nats = await cluster(t)
    let g1 = await gateway(t, nats)
    let g2 = await gateway(t, nats)
    const agent = await startAgent(t, `${g1.ws},${g2.ws}`)
    const dir = path.join(agent.mnt, 'prod/app')
    fs.mkdirSync(dir, { recursive: true })
    // 30 s of writing: long enough to outlast a leader election (about 10 s here) and the gateway events after it.
    const lines = 15000
    const writers = [1, 2].map(w => runSteady(path.join(dir, `${w === 1 ? 'a' : 'b'}.log`), lines, 500, w))
    await waitFor('the first bytes through a gateway', async () => (await sources(g2)).length === 2)

    const leader = await nats.leaderOf('LOGFS_prod')
    t.comment(`SIGKILL of the stream leader ${nats.nodes[leader].name}`)
    await nats.killNode(leader)
    // Reads go on with a node down, once the other two have elected a leader.
    const tail = await waitFor('a read with a node down', async () => {
      const r = await api<{ lines: unknown[] }>(g2, '/v1/tail?source=testnode/prod/app/a.log&lines=3')
      return r.status === 200 && r.body.lines.length === 3 && r.body
    })
    t.equal(tail.lines.length, 3, 'tail answered while a node is down')
    await sleep(1000)
    await nats.startNode(leader)

    await sleep(1000)
    t.comment('SIGKILL of gateway 1: the agent goes on through gateway 2')
    const before = await metric(g2, 'logfs_server_batches_total')
    await stop(g1, 'SIGKILL')
    await waitFor('batches through gateway 2', async () => await metric(g2, 'logfs_server_batches_total') > before + 5)
      .catch((err: Error) => {
        throw new Error(`${err.message}\nagent: ${agent.stderr.slice(-3000)}\ngateway 2: ${g2.stderr.slice(-3000)}`)
      })
    t.pass('with gateway 1 gone, the agent ships through gateway 2')
    g1 = await gateway(t, nats, g1.port)

    await sleep(1000)
    t.comment('both gateways restarted')
    await Promise.all([stop(g1, 'SIGTERM'), stop(g2, 'SIGTERM')])
    await sleep(500)
    ;[g1, g2] = await Promise.all([gateway(t, nats, g1.port), gateway(t, nats, g2.port)])

    for (const r of await Promise.all(writers)) {
      t.equal(r.failed, 0, `the application saw no write error (first: ${r.firstError})`)
    }
    const stopped = await agent.stop()
    t.equal(stopped.ok, true, 'the agent drained every byte to the gateways and stopped')
    for (const g of [g1, g2]) {
      await checkExactlyOnce(t, g, 'testnode/prod/app/a.log', 1, lines)
      await checkExactlyOnce(t, g, 'testnode/prod/app/b.log', 2, lines)
    }
    t.same((await sources(g1)).map(s => [s.source, s.bytes, s.gapBytes, s.next]),
      (await sources(g2)).map(s => [s.source, s.bytes, s.gapBytes, s.next]), 'both gateways list the same sources')
    for (const s of await sources(g1)) {
      t.equal(s.gapBytes, 0, `${s.source}: no gap`)
      t.match(s.next, new RegExp(`^\\d+:${s.bytes}$`), `${s.source}: cursors run on from 0 to the last byte`)
    }
  })

t.test('resent batches are deduplicated, whichever gateway takes them; two writers racing on a source store it once',
  async t => {
    const nats = await cluster(t)
    const [g1, g2] = await Promise.all([gateway(t, nats), gateway(t, nats)])
    const l1 = linkTo(g1)
    const l2 = linkTo(g2)
    t.teardown(() => { l1.close(); l2.close() })
    const batch = (offset: number, text: string): Parameters<ServerLink['send']>[0] =>
      ({ node: 'dd', tenant: 'dup', gen: 5, recs: [['dup/x.log', offset, 1_700_000_000_000, Buffer.from(text)]] })

    t.match((await l1.send(batch(0, 'a\nb\n'))).ack, { stored: 4, duplicate: 0 }, 'first copy stored')
    t.match((await l2.send(batch(0, 'a\nb\n'))).ack, { stored: 0, duplicate: 4 },
      'the same batch through the other gateway')
    t.match((await l2.send(batch(0, 'a\nb\nc\n'))).ack, { stored: 2, duplicate: 4 },
      'a resend that goes further: only the new bytes are stored')
    t.match((await l1.send(batch(4, 'c\nd\n'))).ack, { stored: 2, duplicate: 2 },
      'an overlapping batch through the gateway that did not see the last one')

    // Another writer of the subject (as a second gateway would be) publishes bytes 8..10 at the same moment as a
    // gateway takes a batch with bytes 8..10: one of them is stored, never both.
    const nc = await connect({ servers: nats.url.replace('nats://', '').split(',') })
    t.teardown(() => nc.close())
    const subject = sourceSubject('dup', 'dd/dup/x.log')
    const run = { gen: 5, offset: 8, timestamp: Date.now() }
    const [direct, viaGateway] = await Promise.allSettled([
      jetstream(nc).publish(subject, Buffer.from('E\n'), {
        msgID: runId(subject, run, 2), headers: runHeaders(run), expect: { lastSubjectSequence: 4 },
      }),
      l2.send(batch(8, 'e\n')),
    ])
    t.equal(viaGateway.status, 'fulfilled', 'the gateway answered')
    const text = (await readSource(g1, 'dd/dup/x.log')).toString()
    t.ok(text === 'a\nb\nc\nd\nE\n' || text === 'a\nb\nc\nd\ne\n', `bytes 8..10 stored once (${JSON.stringify(text)})`)
    t.equal(text === 'a\nb\nc\nd\nE\n', direct.status === 'fulfilled',
      'the direct publish won exactly when it was stored')
    t.same((await readSource(g2, 'dd/dup/x.log')).toString(), text, 'both gateways read the same bytes')
  })

t.test('every read command through the gateway that did not take the bytes; tail -f follows across gateways',
  async t => {
    const nats = await cluster(t)
    const [g1, g2] = await Promise.all([gateway(t, nats), gateway(t, nats)])
    const l1 = linkTo(g1)
    t.teardown(() => l1.close())
    const text = Array.from({ length: 300 }, (_, i) =>
      i === 150 ? '{"level":"error","trace_id":"tr-77","msg":"payment failed"}\n' : `line ${i} ok\n`).join('')
    await l1.send({ node: 'web-1', tenant: 'shop', gen: 1, recs: [['shop/app.log', 0, Date.now(), Buffer.from(text)]] })
    const on2 = ['--server', g2.http]
    const list = await cli(['sources', '--json', ...on2])
    t.equal(list.code, 0)
    t.match(JSON.parse(list.stdout), [{ source: 'web-1/shop/app.log', bytes: Buffer.byteLength(text) }], 'sources')
    t.equal((await cli(['cat', 'shop/app.log', ...on2])).stdout, text, 'cat')
    const grep = await cli(['grep', 'payment failed', '--json', ...on2])
    const hit = (JSON.parse(grep.stdout) as { hits: Array<{ cursor: string }> }).hits[0]
    t.match(grep.stdout, /payment failed/, 'grep')
    const ctx = await cli(['context', `web-1/shop/app.log@${hit.cursor}`, '-B', '1', '-A', '1', ...on2])
    t.match(ctx.stdout, /line 149 ok[\s\S]*payment failed[\s\S]*line 151 ok/, 'context')
    t.match((await cli(['trace', 'tr-77', ...on2])).stdout, /1 line\(s\) from 1 source/, 'trace')
    t.match(await (await fetch(`${g2.http}/metrics`)).text(), /logfs_jetstream_messages 1/, '/metrics')
    // LogQL runs on the gateway over the same reads: a log query with a filter and a parser, and a metric query.
    const logs = await cli(['query', '{tenant="shop"} |= "payment" | json | level="error"', '--json', ...on2])
    t.equal(logs.code, 0, logs.stderr)
    t.match(JSON.parse(logs.stdout).data, { resultType: 'streams',
      result: [{ stream: { tenant: 'shop', node: 'web-1', level: 'error', trace_id: 'tr-77' },
        values: [[/^\d+$/, /payment failed/]] }] }, 'a LogQL log query')
    const counts = await cli(['query', 'sum by (level) (count_over_time({tenant="shop"} | json [1h]))', '--json',
      '--since', '10m', ...on2])
    t.equal(counts.code, 0, counts.stderr)
    const series = (JSON.parse(counts.stdout) as { data: { result: Array<{ metric: Record<string, string>,
      values: Array<[number, string]> }> } }).data.result
    const last = (level: string): string | undefined => series.find(r => r.metric.level === level)?.values.at(-1)?.[1]
    t.equal(last('error'), '1', 'a LogQL metric query: the one error')
    t.equal(series.find(r => r.metric.level === undefined || r.metric.level === '')?.values.at(-1)?.[1], '299',
      'and the 299 lines json cannot parse, which have no level')

    const follow = run(['tail', '-f', 'shop/app.log', '-n', '1', ...on2])
    t.teardown(() => { follow.proc.kill() })
    await waitFor('the last line', () => follow.stdout.includes('line 299 ok'))
    const more = Buffer.from('fresh\n')
    const at = Buffer.byteLength(text)
    await l1.send({ node: 'web-1', tenant: 'shop', gen: 1, recs: [['shop/app.log', at, Date.now(), more]] })
    await waitFor('a line written through the other gateway', () => follow.stdout.includes('fresh'))
    t.pass('tail -f on one gateway follows what the other took')
  })

t.test('retention: a tenant stream drops what is older than --retention-age, and reads say so', async t => {
  const nats = await cluster(t)
  const g = await gateway(t, nats, 0, ['--retention-age', '2s'])
  const l = linkTo(g)
  t.teardown(() => l.close())
  await l.send({ node: 'n', tenant: 'brief', gen: 1, recs: [['brief/a.log', 0, Date.now(), Buffer.from('old\n')]] })
  await sleep(2500)
  await l.send({ node: 'n', tenant: 'brief', gen: 1, recs: [['brief/a.log', 4, Date.now(), Buffer.from('new\n')]] })
  await waitFor('retention', async () => (await sources(g)).find(s => s.bytes === 4))
  t.equal((await readSource(g, 'n/brief/a.log')).toString(), 'new\n', 'only the newer bytes are left')
  const gone = await api<{ error: string }>(g, '/v1/context?source=n/brief/a.log&cursor=1:0')
  t.equal(gone.status, 404, 'the old cursor is no longer a retained byte')
  const old = Buffer.from('old\n')
  const resend = await l.send({ node: 'n', tenant: 'brief', gen: 1, recs: [['brief/a.log', 0, Date.now(), old]] })
  t.match(resend.ack, { stored: 0, duplicate: 4 }, 'a resend of bytes retention removed is still known as one')
})

t.test('bad --store and --replicas: a clear message and exit 2; an unreachable cluster: exit 1', async t => {
  for (const [args, message] of [
    [['--store', 'postgres://x'], /--store: 'postgres:\/\/x' is neither 'embedded' nor a nats:\/\/ URL list/],
    [['--store', 'nats://host'], /--store: 'nats:\/\/host' is not HOST:PORT/],
    [['--store', 'nats://127.0.0.1:4222', '--replicas', '0'], /--replicas: '0' must be a whole number from 1 to 5/],
  ] as Array<[string[], RegExp]>) {
    const r = await cli(['server', '--listen', '127.0.0.1:0', ...args])
    t.equal(r.code, 2, `${args.join(' ')} exits 2`)
    t.match(r.stderr, message)
  }
  const down = await cli(['server', '--listen', '127.0.0.1:0', '--store', 'nats://127.0.0.1:1'])
  t.equal(down.code, 1)
  t.match(down.stderr, /cannot reach the JetStream cluster at 127\.0\.0\.1:1/)
})
