// The server's data dir fills up: nothing acknowledged is lost, agents wait or drop by their policy, the server
// says why, and everything goes on by itself once there is space again. Data dirs are small tmpfs mounts.
import t, { type Test } from 'tap'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { execFileSync } from 'node:child_process'
import { Store } from '../lib/store/disk/store'
import { expected, line } from './fixtures/lines'
import {
  arrived, readSource, sleep, sources, startAgent, startServer, waitFor, writer, type Agent, type Server,
} from './helpers/cluster'
import { storeFiles } from '../lib/store/disk/layout'

const PAGE = 4096
const FULL = /data dir full, refusing batches until space returns/
const BACK = /space is back/

/** A tmpfs of `bytes` (whole pages), unmounted in teardown. */
function tmpfs (t: Test, bytes: number): { dir: string, resize: (bytes: number) => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'logfs-test-full-'))
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir])
  t.teardown(() => {
    // Lazy: the killed server may not have closed its files yet.
    execFileSync('umount', ['-l', dir])
    fs.rmdirSync(dir)
  })
  return { dir, resize: (n) => execFileSync('mount', ['-o', `remount,size=${n}`, dir]) }
}

const count = (text: string, re: RegExp): number => text.match(new RegExp(re.source, 'g'))?.length ?? 0

async function metric (server: Server, name: string): Promise<number> {
  const text = await (await fetch(server.http + '/metrics')).text()
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text)
  if (!m) throw new Error(`no metric ${name}`)
  return Number(m[1])
}

const SOURCE_BYTES = 2 * 1024 * 1024

/** A server on a 2 MiB tmpfs and an agent with a 1 MiB ring under `policy`, with a tenant directory `app`. */
async function smallDisk (
  t: Test, policy: 'block' | 'drop',
): Promise<{ disk: ReturnType<typeof tmpfs>, server: Server, agent: Agent }> {
  const disk = tmpfs(t, SOURCE_BYTES)
  const server = await startServer(t, { dataDir: disk.dir, args: ['--segment-size', '1MiB'] })
  const agent = await startAgent(t, server, ['--memory', '1MiB', '--ring-size', '1MiB', '--full-policy', policy])
  fs.mkdirSync(path.join(agent.mnt, 'app'), { recursive: true })
  return { disk, server, agent }
}

t.test('disk full under block: the writer waits, the server says why, ' +
  'and every line arrives once after the disk grows', async t => {
  const { disk, server, agent } = await smallDisk(t, 'block')
  const source = 'testnode/app/big.log'
  const lines = 25000 // 5 MB: more than the 2 MiB disk and the 1 MiB ring together
  const w = writer({ file: path.join(agent.mnt, 'app/big.log'), lines, size: 200, prefix: 'df' })

  await waitFor('the server to report a full disk', () => FULL.test(server.stderr), 30000)
  t.equal(await metric(server, 'logfs_store_full'), 1, 'logfs_store_full is 1')
  const stored = (await sources(server)).find(s => s.source === source)!.bytes
  t.ok(stored > 1.5 * 1024 * 1024, `the disk was filled (${stored} bytes stored)`)
  t.ok(storeFiles(disk.dir, '.seg').length >= 2, 'segments rolled on the way')
  await sleep(2500)
  t.equal(w.proc.exitCode, null, 'the writer is blocked while the disk is full')
  t.equal((await sources(server)).find(s => s.source === source)!.bytes, stored, 'nothing more is stored meanwhile')
  const refused = await metric(server, 'logfs_server_batches_unavailable_total')
  t.ok(refused >= 2, `the agent keeps retrying (${refused} batches nacked)`)
  t.equal(count(server.stderr, FULL), 1, 'the full disk is logged once, not per batch')
  t.match(server.stderr, /data dir full, refusing batches until space returns: ENOSPC/, 'with the reason')
  t.equal((await fetch(server.http + '/readyz')).status, 200,
    'still ready: reads go on, and there is no other server to send agents to')

  disk.resize(64 * 1024 * 1024)
  const r = await w.done
  t.same(r, { lines, bytes: lines * 200, error: null }, 'the writer finished once space was back')
  await arrived(server, source, lines * 200, 60000)
  t.ok((await readSource(server, source)).toString() === expected('df', lines, 200), 'every line once, in order')
  t.equal(count(server.stderr, BACK), 1, 'the recovery is logged once')
  t.equal(await metric(server, 'logfs_store_full'), 0, 'logfs_store_full is back to 0')
  const report = await agent.stop()
  const tenant = (report.tenants as Array<{ blockedWrites: number, droppedBytes: number }>)[0]
  t.ok(tenant.blockedWrites > 0, `the ring filled and writes waited (${tenant.blockedWrites})`)
  t.equal(tenant.droppedBytes, 0, 'nothing dropped under block')

  // What is on disk is clean: a restart finds no torn or unreadable entries, and reads the same bytes.
  server.proc.kill('SIGKILL')
  await server.exited
  const again = await startServer(t, { dataDir: disk.dir })
  t.notMatch(again.stderr, /torn|not readable|CRC|not a logfs segment/, 'no damage found on open')
  t.ok((await readSource(again, source)).toString() === expected('df', lines, 200), 'every line once after a restart')
})

t.test('disk full under drop: the writer never waits, and exactly the dropped bytes are missing', async t => {
  const { disk, server, agent } = await smallDisk(t, 'drop')
  const source = 'testnode/app/drop.log'
  const file = path.join(agent.mnt, 'app/drop.log')
  const lines = 50000
  const r = await writer({ file, lines, size: 200, prefix: 'dr' }).done
  t.same(r, { lines, bytes: lines * 200, error: null }, 'the writer finished')
  await waitFor('the server to report a full disk', () => FULL.test(server.stderr), 30000)

  disk.resize(64 * 1024 * 1024)
  let last = -1
  await waitFor('the ring to drain', async () => {
    const now = (await sources(server)).find(s => s.source === source)?.bytes ?? 0
    const stable = now > 0 && now === last
    last = now
    await sleep(1000)
    return stable
  }, 60000)
  // Later lines make the dropped stretch at the end visible to the server as a gap in the cursor.
  t.equal((await writer({ file, lines: 10, size: 200, prefix: 'af' }).done).lines, 10)
  await waitFor('the lines after the gap', async () =>
    (await readSource(server, source)).toString().endsWith(expected('af', 10, 200)), 30000)
  const report = await agent.stop()
  const tenant = (report.tenants as Array<{ droppedBytes: number, blockedWrites: number }>)[0]
  t.equal(tenant.blockedWrites, 0, 'no write waited')
  t.ok(tenant.droppedBytes > 0, `dropped ${tenant.droppedBytes} bytes`)
  const src = (await sources(server)).find(s => s.source === source)!
  t.equal(src.bytes + tenant.droppedBytes, (lines + 10) * 200, 'stored + dropped = written')
  t.equal(src.gapBytes, tenant.droppedBytes, 'the server counts exactly the dropped bytes as a gap')
  const got = (await readSource(server, source)).toString().match(/[^\n]*\n/g) ?? []
  const numbers = got.slice(0, -10).map(l => Number(l.slice(3, 11)))
  t.ok(got.slice(0, -10).every((l, i) => l === line('dr', numbers[i], 200)),
    'what arrived is whole lines that were written')
  t.ok(numbers.every((n, i) => i === 0 || n > numbers[i - 1]), 'each once, in order')
  t.equal(count(server.stderr, FULL), 1, 'the full disk is logged once')
  t.equal(count(server.stderr, BACK), 1, 'and its end')
})

const open = (dir: string, segmentBytes: number, retentionBytes = 1e12): Store =>
  Store.open({ dir, segmentBytes, retentionBytes, retentionMs: 0 })
const rec = (offset: number, data: Buffer) => ({ source: 'n/a/x.log', gen: 1, offset, timestamp: Date.now(), data })
const chunk = (n: number, fill: number): Buffer => Buffer.alloc(n, fill)
/** What an entry adds to its data in a segment (after the 16-byte file header): fixed fields and the source name. */
const ENTRY = 34 + 'n/a/x.log'.length

t.test('store: a write that hits ENOSPC is cut off, refused, ' +
  'and the next one after space returns succeeds', async t => {
  const disk = tmpfs(t, 256 * PAGE)
  let store = open(disk.dir, 1e9)
  const segment = path.join(disk.dir, 'tenants/a/000000000001.seg')
  const acked: Buffer[] = []
  let offset = 0
  let refusal: Error | null = null
  for (let i = 0; refusal === null; i++) {
    const data = chunk(100_000, 65 + i)
    // The tenant's first batch makes its first segment.
    const before = i === 0 ? 16 : fs.statSync(segment).size
    try {
      await store.append([rec(offset, data)])
      acked.push(data)
      offset += data.length
    } catch (err) {
      refusal = err as Error
      t.equal(fs.statSync(segment).size, before, 'the partly written batch is cut off again')
    }
  }
  t.match(refusal.message, /^disk full: ENOSPC/, 'refused with the reason')
  t.equal(store.healthy, true, 'not the permanent failure of a failed fsync')
  t.equal(store.full, true)
  t.equal(store.refusedAppends, 1)
  const resend = chunk(100_000, 122)
  await t.rejects(store.append([rec(offset, resend)]), /disk full/, 'a resend is refused while the disk is full')
  t.equal(fs.statSync(segment).size, offset + 16 + acked.length * ENTRY, 'and cut off again')

  disk.resize(1024 * PAGE)
  t.same(await store.append([rec(offset, resend)]), { stored: resend.length, duplicate: 0 },
    'the next append succeeds by itself')
  acked.push(resend)
  t.equal(store.full, false)
  await store.close()
  store = open(disk.dir, 1e9)
  t.teardown(() => store.close())
  t.ok(store.read('n/a/x.log', null, 1e9).data.equals(Buffer.concat(acked)),
    'a reopened store reads every acknowledged byte')
})

t.test('store: no room for a new segment or for marks.json: ' +
  'the batch stays acknowledged, the store writes on', async t => {
  // Page arithmetic: the first segment fills the tmpfs exactly, so the next segment's header has no room.
  const disk = tmpfs(t, 64 * PAGE)
  const first = chunk(64 * PAGE - 16 - ENTRY, 120)
  let store = open(disk.dir, 200_000, 100_000)
  t.same(await store.append([rec(0, first)]), { stored: first.length, duplicate: 0 },
    'acknowledged though no new segment could be made')
  const tenant = path.join(disk.dir, 'tenants/a')
  t.same(fs.readdirSync(tenant), ['000000000001.seg'], 'no half-made segment is left behind')
  t.equal(store.healthy, true)
  await t.rejects(store.append([rec(first.length, chunk(10, 1))]), /disk full/, 'the segment itself is full too')

  await store.close()
  store = open(disk.dir, 200_000, 100_000)
  t.equal(store.segmentCount, 1, 'a store opened on a full disk writes on in its last segment')

  // Room for the next batch and a new segment, not for marks.json, which retention writes before deleting.
  disk.resize(66 * PAGE)
  const second = chunk(10, 121)
  t.same(await store.append([rec(first.length, second)]), { stored: 10, duplicate: 0 },
    'acknowledged though retention failed')
  t.equal(store.segmentCount, 2, 'the new segment was made, the old one kept')
  t.same(fs.readdirSync(tenant).sort(), ['000000000001.seg', '000000000002.seg'], 'no half-made segment')
  t.same(fs.readdirSync(disk.dir), ['tenants'], 'no partial marks.json.tmp left')

  disk.resize(256 * PAGE)
  store.applyRetention()
  t.equal(store.segmentCount, 1, 'retention works again once there is space')
  await store.close()
  store = open(disk.dir, 200_000, 100_000)
  t.teardown(() => store.close())
  t.same(await store.append([rec(0, Buffer.concat([first, second]))]), { stored: 0, duplicate: first.length + 10 },
    'marks.json was written: removed bytes are still known')
})
