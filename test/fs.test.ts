// The mount behaves like an ordinary disk to applications.
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { execFileSync } from 'node:child_process'
import { expected } from './fixtures/lines'
import { api, freePort, readSource, sources, startAgent, startServer, writer } from './helpers/cluster'

t.test('POSIX file operations', async t => {
  const server = await startServer(t)
  const agent = await startAgent(t, server)
  const m = agent.mnt
  const p = (x: string): string => path.join(m, x)

  fs.mkdirSync(p('ns/pod/ctr'), { recursive: true })
  t.ok(fs.statSync(p('ns/pod')).isDirectory())
  t.same(fs.readdirSync(p('ns')), ['pod'])
  t.throws(() => fs.rmdirSync(p('ns')), { code: 'ENOTEMPTY' })
  t.throws(() => fs.mkdirSync(p('ns/pod')), { code: 'EEXIST' })
  t.throws(() => fs.statSync(p('ns/none')), { code: 'ENOENT' })

  const f = p('ns/pod/ctr/app.log')
  fs.writeFileSync(f, 'hello\n')
  fs.appendFileSync(f, 'world\n')
  t.equal(fs.statSync(f).size, 12, 'size follows writes')
  t.equal(fs.readFileSync(f, 'utf8'), 'hello\nworld\n', 'recent bytes read back')
  const before = fs.statSync(f).mtimeMs
  fs.truncateSync(f, 3)
  t.equal(fs.readFileSync(f, 'utf8'), 'hel', 'truncate shrinks')
  fs.truncateSync(f, 6)
  t.same([...fs.readFileSync(f)], [...Buffer.from('hel'), 0, 0, 0], 'truncate extends with zeros')
  t.ok(fs.statSync(f).mtimeMs >= before)

  fs.chmodSync(f, 0o600)
  t.equal(fs.statSync(f).mode & 0o777, 0o600, 'chmod')
  fs.chownSync(f, 123, 456)
  t.match(fs.statSync(f), { uid: 123, gid: 456 }, 'chown')
  fs.utimesSync(f, new Date(1_700_000_000_000), new Date(1_700_000_000_000))
  t.equal(Math.round(fs.statSync(f).atimeMs), 1_700_000_000_000, 'utimens')

  fs.writeFileSync(p('ns/pod/ctr/other.log'), 'other\n')
  fs.renameSync(p('ns/pod/ctr/other.log'), f)
  t.equal(fs.readFileSync(f, 'utf8'), 'other\n', 'rename replaces an existing file')
  t.same(fs.readdirSync(p('ns/pod/ctr')).sort(), ['app.log'])
  fs.renameSync(p('ns/pod'), p('ns/pod2'))
  t.ok(fs.existsSync(p('ns/pod2/ctr/app.log')), 'directories rename with their contents')
  t.throws(() => fs.renameSync(p('ns'), p('ns/pod2/inside')), { code: 'EINVAL' }, 'a directory cannot move into itself')

  // A file unlinked while open keeps taking writes, and they are still shipped.
  const fd = fs.openSync(p('ns/pod2/ctr/gone.log'), 'a')
  fs.writeSync(fd, 'before unlink\n')
  fs.unlinkSync(p('ns/pod2/ctr/gone.log'))
  fs.writeSync(fd, 'after unlink\n')
  fs.closeSync(fd)
  t.notOk(fs.existsSync(p('ns/pod2/ctr/gone.log')))

  const st = fs.statfsSync(m)
  t.ok(st.bavail * st.bsize > 1e13, 'statfs reports a very large free space')

  // pwrite at explicit offsets, without O_APPEND.
  const pw = await writer({ file: p('ns/pos.log'), lines: 300, size: 100, prefix: 'pw', positional: true }).done
  t.equal(pw.lines, 300)
  const stop = await agent.stop()
  t.equal(stop.ok, true)
  t.equal((await readSource(server, 'testnode/ns/pod2/ctr/gone.log')).toString(), 'before unlink\nafter unlink\n',
    'writes after unlink arrived')
  t.ok((await readSource(server, 'testnode/ns/pos.log')).toString() === expected('pw', 300, 100),
    'positional writes arrived in order')
  // Every byte ever written to app.log's path, in write order: truncation does not rewind the stream.
  t.equal((await readSource(server, 'testnode/ns/pod/ctr/app.log')).toString(), 'hello\nworld\n')
})

t.test('large writes reach the filesystem in 128 KiB requests; the tail stays readable', async t => {
  const server = await startServer(t)
  const agent = await startAgent(t, server, ['--tail-size', '64KiB'])
  fs.mkdirSync(path.join(agent.mnt, 'bulk'))
  const f = path.join(agent.mnt, 'bulk/big.bin')
  const data = Buffer.alloc(4 * 1024 * 1024)
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 12)) & 0xff
  // One write() of 4 MiB: at 4 KiB per request that would be 1024 requests.
  execFileSync('dd', [`of=${f}`, 'bs=4M', 'count=1', 'iflag=fullblock'],
    { input: data, stdio: ['pipe', 'ignore', 'ignore'] })
  const tail = Buffer.alloc(1000)
  const fd = fs.openSync(f, 'r')
  fs.readSync(fd, tail, 0, 1000, data.length - 1000)
  const head = Buffer.alloc(16)
  fs.readSync(fd, head, 0, 16, 0)
  fs.closeSync(fd)
  t.ok(tail.equals(data.subarray(data.length - 1000)), 'the last bytes read back exactly')
  t.ok(head.equals(Buffer.alloc(16)), 'bytes older than the tail window read as zeros')
  const report = await agent.stop()
  const writes = (report.tenants as Array<{ writes: number }>)[0].writes
  t.ok(writes <= 40, `4 MiB arrived in ${writes} write requests (32 at 128 KiB each)`)
  t.ok((await readSource(server, 'testnode/bulk/big.bin')).equals(data), 'byte-exact on the server')
})

t.test('fsync returns once the bytes are acknowledged, and EIO when the server cannot be reached', async t => {
  const server = await startServer(t)
  const agent = await startAgent(t, server)
  fs.mkdirSync(path.join(agent.mnt, 'db'))
  const fd = fs.openSync(path.join(agent.mnt, 'db/sync.log'), 'a')
  fs.writeSync(fd, 'must be durable\n')
  fs.fsyncSync(fd)
  const row = (await sources(server)).find(s => s.source === 'testnode/db/sync.log')
  t.equal(row?.bytes, 16, 'after fsync the server already has the bytes')
  fs.closeSync(fd)

  const port = await freePort()
  const lonely = await startAgent(t, `ws://127.0.0.1:${port}`, ['--fsync-wait', '1s', '--drain-timeout', '1s'])
  fs.mkdirSync(path.join(lonely.mnt, 'db'))
  const fd2 = fs.openSync(path.join(lonely.mnt, 'db/sync.log'), 'a')
  fs.writeSync(fd2, 'no server\n')
  t.throws(() => fs.fsyncSync(fd2), { code: 'EIO' }, 'fsync says the bytes are not durable yet')
  fs.closeSync(fd2)
})

t.test('a mount left stale by a killed agent is cleaned by the next mount', async t => {
  const server = await startServer(t)
  const first = await startAgent(t, server)
  first.proc.kill('SIGKILL')
  await first.exited
  t.throws(() => fs.statSync(first.mnt), { code: 'ENOTCONN' }, 'the dead mount answers ENOTCONN')
  const second = await startAgent(t, server, [], first.mnt)
  t.match(second.stderr, /cleaned a stale mount/)
  fs.mkdirSync(path.join(second.mnt, 'again'))
  fs.writeFileSync(path.join(second.mnt, 'again/x.log'), 'works\n')
  await second.stop()
  t.equal((await readSource(server, 'testnode/again/x.log')).toString(), 'works\n')
  t.equal((await api(server, '/healthz')).status, 200)
})
