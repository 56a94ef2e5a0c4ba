// Room in the cluster for tenant streams. JetStream reserves a stream's max_bytes on every replica when it creates
// the stream, so a gateway with the default --retention-size (10 GiB) asks more than nodes with a small
// max_file_store hold. Through real mounts and 3-node clusters: the gateway fits the stream and says so; where
// nothing fits, /readyz, a metric and the nack say why, the agent keeps the bytes and ships them once there is room;
// and the README's quick start stores lines for more tenants than nats-server's default limits hold at 10 GiB.
import t, { type Test } from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { connect } from '@nats-io/transport-node'
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream'
import {
  TOKEN, append, arrived, checkExactlyOnce, event, freePort, readSource, run, startAgent, startServer,
  tempDir, waitFor, type Server,
} from './helpers/cluster'
import { NatsCluster } from '../bench/natscluster'
import { isNoRoom } from '../lib/jetstream/room'
import { runSteady, steadyLine } from '../bench/steadywriter'

const GiB = 1024 * 1024 * 1024
const MiB = 1024 * 1024

async function cluster (t: Test, maxFileStore: string | null): Promise<NatsCluster> {
  const nats = await NatsCluster.start(3, { maxFileStore })
  t.teardown(() => nats.stop())
  return nats
}

async function manager (t: Test, nats: NatsCluster): Promise<JetStreamManager> {
  const nc = await connect({ servers: nats.url.replace('nats://', '').split(',') })
  t.teardown(() => nc.close())
  return await jetstreamManager(nc)
}

/** A figure on a /metrics page; `labels` as they are printed, e.g. `{tenant="app"}`. */
async function metric (url: string, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text()
  const line = text.split('\n').find(l => l.startsWith(`${name}${labels} `))
  return line === undefined ? NaN : Number(line.split(' ')[1])
}

/** Takes every bit of the nodes' room that 1 MiB streams can see: the cluster then refuses any logfs stream. */
async function fill (jsm: JetStreamManager): Promise<string[]> {
  const names: string[] = []
  const deadline = Date.now() + 30_000
  for (let size = 8 * GiB; size >= MiB; size /= 2) {
    for (;;) {
      const name = `FILLER_${names.length}`
      try {
        await jsm.streams.add({ name, subjects: [`filler.${names.length}`], num_replicas: 3, max_bytes: size })
      } catch (err) {
        // A cluster that has just started may not place streams yet (no meta leader): only no room ends a size.
        if (isNoRoom(err) || Date.now() > deadline) break
        await new Promise(resolve => setTimeout(resolve, 250))
        continue
      }
      names.push(name)
    }
  }
  return names
}

t.test('default --retention-size on nodes with max_file_store 1G: the stream is fitted, with a warning and a ' +
  'metric, and every line of a mount is stored', async t => {
  const nats = await cluster(t, '1G')
  const g = await startServer(t, { args: ['--store', nats.url, '--replicas', '3'] })
  const agent = await startAgent(t, g)
  fs.mkdirSync(path.join(agent.mnt, 'app'))
  const lines = 2000
  const w = await runSteady(path.join(agent.mnt, 'app/a.log'), lines, 2000, 1)
  t.equal(w.failed, 0, 'the application saw no write error')
  await arrived(g, 'testnode/app/a.log', lines * steadyLine(1, 0).length, 30000).catch((err: Error) => {
    throw new Error(`${err.message}\ngateway: ${g.stderr.slice(-2000)}`)
  })
  t.equal((await agent.stop()).ok, true, 'the agent drained every byte')
  await checkExactlyOnce(t, g, 'testnode/app/a.log', 1, lines)

  t.match(g.stderr, /tenant app: stream LOGFS_app holds at most [\d.]+ MiB, not the 10\.0 GiB of --retention-size/,
    'the gateway warns, naming the tenant and both sizes')
  const granted = await metric(g.http, 'logfs_jetstream_stream_max_bytes', '{tenant="app"}')
  t.ok(granted >= 64 * MiB && granted < GiB, `the granted size is on /metrics (${granted} bytes)`)
  t.equal(await metric(g.http, 'logfs_jetstream_streams_fitted'), 1, 'one stream fitted smaller')
  const info = await (await manager(t, nats)).streams.info('LOGFS_app')
  t.equal(info.config.max_bytes, granted, 'the stream holds what the metric says')
  t.equal((await fetch(`${g.http}/readyz`)).status, 200, 'ready: every tenant has its stream')

  t.comment('a gateway started again finds the fitted stream and keeps it')
  const g2 = await startServer(t, { args: ['--store', nats.url, '--replicas', '3'] })
  await append([[path.join((await startAgent(t, g2)).mnt, 'app/a.log'), steadyLine(1, lines)]])
  await arrived(g2, 'testnode/app/a.log', (lines + 1) * steadyLine(1, 0).length)
  await checkExactlyOnce(t, g2, 'testnode/app/a.log', 1, lines + 1)
  t.equal(await metric(g2.http, 'logfs_jetstream_stream_max_bytes', '{tenant="app"}'), granted,
    'the existing stream kept its size')
  t.match(g2.stderr, /tenant app: stream LOGFS_app holds at most/, 'and the restarted gateway warns too')
})

t.test('no room at any size: /readyz 503 and a metric say why, batches are nacked with it, the agent keeps the ' +
  'bytes and ships them once there is room', async t => {
  const nats = await cluster(t, '1G')
  const jsm = await manager(t, nats)
  const fillers = await fill(jsm)
  t.ok(fillers.length > 0, `the nodes' room is taken (${fillers.length} other streams)`)
  const g = await startServer(t, { args: ['--store', nats.url, '--replicas', '3'] })
  const metricsPort = await freePort()
  const agentMetrics = `http://127.0.0.1:${metricsPort}`
  const agent = await startAgent(t, g, ['--metrics-listen', `127.0.0.1:${metricsPort}`])
  fs.mkdirSync(path.join(agent.mnt, 'app'))
  const lines = 500
  const w = await runSteady(path.join(agent.mnt, 'app/a.log'), lines, 5000, 1)
  t.equal(w.failed, 0, 'the application saw no write error')
  const bytes = lines * steadyLine(1, 0).length

  const ready = await waitFor('/readyz to say why', async () => {
    const res = await fetch(`${g.http}/readyz`)
    return res.status === 503 && await res.json() as { ready: boolean, reason: string }
  })
  t.equal(ready.ready, false)
  t.match(ready.reason, /no room in the JetStream cluster for tenant app: stream LOGFS_app was refused at every size from 10\.0 GiB down to 64\.0 MiB on 3 replica\(s\)/,
    '/readyz gives the reason')
  t.match(ready.reason, /raise max_file_store on the nodes, or lower --retention-size/, 'and what to do')
  t.equal(await metric(g.http, 'logfs_jetstream_streams_without_room'), 1, 'the metric counts the tenant')
  await waitFor('batches nacked again', async () =>
    await metric(g.http, 'logfs_server_batches_unavailable_total') >= 2)
  t.pass('its batches are nacked unavailable, again as the agent resends them')
  t.equal(g.stderr.match(/no room in the JetStream cluster for tenant app/g)?.length, 1,
    'the gateway logs it once, not per batch')
  t.match(g.stderr, /error jetstream: no room in the JetStream cluster for tenant app/, 'as an error')
  t.match(agent.stderr, /server cannot store now: no room in the JetStream cluster for tenant app/,
    'the agent is told why')
  const pending = await metric(agentMetrics, 'logfs_agent_pending_bytes')
  t.ok(pending >= bytes, `the agent holds every byte (${pending} bytes with the rings' record headers)`)

  t.comment('room returns: the other streams are deleted')
  for (const name of fillers) await jsm.streams.delete(name)
  await arrived(g, 'testnode/app/a.log', bytes, 30000)
  await checkExactlyOnce(t, g, 'testnode/app/a.log', 1, lines)
  t.equal((await fetch(`${g.http}/readyz`)).status, 200, 'ready again')
  t.equal(await metric(g.http, 'logfs_jetstream_streams_without_room'), 0, 'no tenant without room')
  t.equal((await agent.stop()).ok, true, 'the agent drained every byte')
})

t.test("README's quick start on a plain 3-node cluster (nats-server's default limits): lines of more tenants " +
  'than 10 GiB streams fit are stored', async t => {
  const nats = await cluster(t, null)
  // nats-server's default max_file_store is 75% of the free disk under its store_dir, taken when it starts.
  const disk = fs.statfsSync(nats.dir)
  const fitWhole = Math.floor(0.75 * disk.bavail * disk.bsize / (10 * GiB))
  // Enough tenants to pass what the disk fits; 16 keeps the test short.
  const tenants = Math.min(16, fitWhole + 2)
  if (tenants <= fitWhole) t.comment(`this disk holds ${fitWhole} streams of 10 GiB: none is fitted here`)
  const dir = tempDir(t, 'tokens')
  const tokens = path.join(dir, 'tokens.json')
  fs.writeFileSync(tokens, JSON.stringify({ [TOKEN]: '*' }))
  // The README's line, with loopback addresses (and --json, for the port); the token only in tokens.json.
  const p = run(['server', '--store', nats.url, '--replicas', '3', '--listen', '127.0.0.1:0',
    '--tokens', 'tokens.json', '--json'], { cwd: dir, env: { ...process.env, LOGFS_TOKEN: '' } })
  t.teardown(() => { p.proc.kill('SIGKILL') })
  const port = (await event(p, 'listening')).port as number
  const g: Server = Object.assign(p, { port, http: `http://127.0.0.1:${port}`, ws: `ws://127.0.0.1:${port}`,
    dataDir: dir })
  const agent = await startAgent(t, g)
  const writes: Array<[string, string]> = []
  for (let i = 0; i < tenants; i++) {
    fs.mkdirSync(path.join(agent.mnt, `team${i}`))
    writes.push([path.join(agent.mnt, `team${i}/app.log`), `hello from team ${i}\n`])
  }
  await append(writes)
  for (let i = 0; i < tenants; i++) {
    await arrived(g, `testnode/team${i}/app.log`, writes[i][1].length, 30000).catch((err: Error) => {
      throw new Error(`${err.message}\ngateway: ${g.stderr.slice(-2000)}`)
    })
    t.equal((await readSource(g, `testnode/team${i}/app.log`)).toString(), writes[i][1], `team${i} stored`)
  }
  t.equal((await agent.stop()).ok, true, 'the agent drained every byte')
  const fitted = await metric(g.http, 'logfs_jetstream_streams_fitted')
  // The nodes measured the free disk when they started; a test beside this one may have changed it by a stream.
  if (tenants > fitWhole + 1) t.ok(fitted >= 1, `${fitted} of ${tenants} streams fitted smaller than 10 GiB`)
})
