// Bad input is refused clearly and never breaks the server or loses accepted data: malformed frames, wrong
// tokens, tenants a token does not cover, paths that escape, and writers without root.
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { encodeFrame } from '../lib/wire/frames'
import { answer, batch, connect, exchange } from './helpers/ingest'
import { expected } from './fixtures/lines'
import {
  TOKEN, api, arrived, readSource, sleep, startAgent, startServer, tempDir, waitFor, writer,
} from './helpers/cluster'

t.test('malformed frames close that connection with an error; the server keeps serving', async t => {
  const tokens = path.join(tempDir(t, 'tok'), 'tokens.json')
  fs.writeFileSync(tokens, JSON.stringify({ [TOKEN]: '*', 'only-shop-token': ['shop'] }))
  const server = await startServer(t, { args: ['--tokens', tokens] })
  const bad: Array<[string, Buffer]> = [
    ['garbage bytes', Buffer.from('this is not a frame at all')],
    ['unknown wire version', Buffer.from([9, 0, 1, 2, 3])],
    ['bad deflate', Buffer.from([1, 1, 0xff, 0xfe, 0xfd])],
    ['wrong shape', encodeFrame({ t: 'batch', seq: 'one' }, false)],
  ]
  for (const [what, frame] of bad) {
    const ws = await connect(server.ws, TOKEN)
    const pending = answer(ws)
    ws.send(frame)
    const { frame: reply, close } = await pending
    t.equal(reply?.t, 'error', `${what}: error frame`)
    t.match(String(reply?.message), /\w/, `${what}: says why (${reply?.message})`)
    t.equal((await close)[0], 1007, `${what}: connection closed as invalid payload`)
  }
  // A batch that reads fine but names what it may not is refused by seq; the connection goes on.
  const ws = await connect(server.ws, TOKEN)
  const refusedContent: Array<[string, Buffer]> = [
    ['path escaping the mount',
      encodeFrame(batch(1, 'shop', [['shop/../../etc/passwd', 0, 1, Buffer.from('x')]]), false)],
    ['absolute path', encodeFrame(batch(2, 'default', [['/etc/passwd', 0, 1, Buffer.from('x')]]), false)],
    ['record outside its tenant', encodeFrame(batch(3, 'shop', [['bank/a.log', 0, 1, Buffer.from('x')]]), true)],
  ]
  for (const [i, [what, frame]] of refusedContent.entries()) {
    const { frame: reply } = await exchange(ws, frame)
    t.match(reply, { t: 'nack', seq: i + 1, code: 'invalid' }, `${what}: refused by seq (${reply?.message})`)
  }
  const ok = answer(ws)
  ws.send(encodeFrame(batch(7, 'shop', [['shop/a.log', 0, Date.now(), Buffer.from('hello\n')]]), true))
  t.match((await ok).frame, { t: 'ack', seq: 7, stored: 6, duplicate: 0 }, 'a good batch is still acknowledged')
  ws.close()
  t.equal((await readSource(server, 'n1/shop/a.log')).toString(), 'hello\n')

  const scoped = await connect(server.ws, 'only-shop-token')
  const refused = answer(scoped)
  scoped.send(encodeFrame(batch(3, 'bank', [['bank/a.log', 0, 1, Buffer.from('x\n')]]), false))
  t.match((await refused).frame, { t: 'nack', seq: 3, code: 'forbidden' },
    'a batch for a tenant the token does not cover is refused')
  const allowed = answer(scoped)
  scoped.send(encodeFrame(batch(4, 'shop', [['shop/a.log', 6, 1, Buffer.from('more\n')]]), false))
  t.match((await allowed).frame, { t: 'ack', seq: 4, stored: 5 }, 'the same connection may still write its own tenant')
  scoped.close()

  t.equal((await api(server, '/v1/sources', 'only-shop-token')).status, 200)
  t.equal((await api(server, '/v1/read?source=n1/shop/a.log', 'wrong-token-123')).status, 401, 'reads need a token')
  const bankRead = await api(server, '/v1/read?source=n1/shop/a.log', 'only-shop-token')
  t.equal(bankRead.status, 200, 'a scoped token reads its tenant')
  const refusedToken = await connect(server.ws, 'wrong-token-123').then(() => null, (e: { status?: number }) => e)
  t.equal(refusedToken?.status, 401, 'a wrong token is refused at the handshake')
})

t.test('an agent with a wrong token says so, stores nothing, and reports what it could not ship', async t => {
  const server = await startServer(t)
  const agent = await startAgent(t, server, ['--token', 'definitely-wrong-token', '--drain-timeout', '1s'])
  fs.mkdirSync(path.join(agent.mnt, 'prod'))
  const r = await writer({ file: path.join(agent.mnt, 'prod/x.log'), lines: 10, size: 100, prefix: 'wt' }).done
  t.equal(r.lines, 10)
  // At mount time the agent warns that it could not check its node (the token was refused); the shipping error
  // comes once there are bytes to ship.
  await waitFor('the agent to report the refused token', () => /error ship: .*refused the token/.test(agent.stderr))
  t.match(agent.stderr, /error ship: tenant prod: server .* refused the token/, 'logged as an error, not a warning')
  t.match(agent.stderr, /HTTP 401/)
  await sleep(300)
  t.equal((await api<{ sources: unknown[] }>(server, '/v1/sources')).body.sources.length, 0, 'nothing was stored')
  const report = await agent.stop()
  t.equal(await agent.exited, 1, 'a stop that could not ship everything exits 1')
  t.equal(report.ok, false)
  t.ok((report.pendingBytes as number) >= 1000, 'the unshipped bytes are reported')
})

t.test('a non-root writer works in a directory it owns, and is refused where it has no permission', async t => {
  const server = await startServer(t)
  const agent = await startAgent(t, server)
  const dir = path.join(agent.mnt, 'team/app')
  fs.mkdirSync(dir, { recursive: true })
  fs.chownSync(dir, 65534, 65534)
  fs.mkdirSync(path.join(agent.mnt, 'rootonly'), { mode: 0o755 })
  const opts = { uid: 65534, gid: 65534 }
  const r = await writer({
    file: path.join(dir, 'app.log'), lines: 500, size: 120, prefix: 'nb', rotate: 'rename', rotateEvery: 200,
  }, opts).done
  t.same(r, { lines: 500, bytes: 60000, error: null }, 'nobody creates, appends and rotates its log')
  t.equal(fs.statSync(path.join(dir, 'app.log')).uid, 65534, 'the file belongs to the directory owner')
  await arrived(server, 'testnode/team/app/app.log', 60000)
  t.ok((await readSource(server, 'testnode/team/app/app.log')).toString() === expected('nb', 500, 120),
    'its bytes arrive')
  const denied = await writer({ file: path.join(agent.mnt, 'rootonly/x.log'), lines: 1, size: 50, prefix: 'no' }, opts)
    .done.catch((e: Error) => e)
  t.match(String((denied as Error).message ?? ''), /EACCES|permission denied/i, 'nobody cannot create files in a root-owned 0755 directory')
  await agent.stop()
})
