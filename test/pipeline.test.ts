// End to end: writes through a real mount arrive on a real server byte-exact, in cursor order.
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { expected } from './fixtures/lines'
import { arrived, readSource, sources, startAgent, startServer, writer } from './helpers/cluster'

t.test('several writer processes, own files and one shared file, arrive byte-exact', async t => {
  const server = await startServer(t)
  const agent = await startAgent(t, server)
  fs.mkdirSync(path.join(agent.mnt, 'prod/api'), { recursive: true })
  const lines = 3000
  const own = [0, 1, 2, 3].map(i =>
    writer({ file: path.join(agent.mnt, `prod/api/w${i}.log`), lines, size: 200, prefix: `own${i}` }))
  const shared = [0, 1, 2, 3].map(i =>
    writer({ file: path.join(agent.mnt, 'prod/api/shared.log'), lines, size: 200, prefix: `sh${i}` }))
  const results = await Promise.all([...own, ...shared].map(w => w.done))
  for (const r of results) t.same(r, { lines, bytes: lines * 200, error: null })
  for (let i = 0; i < 4; i++) await arrived(server, `testnode/prod/api/w${i}.log`, lines * 200)
  await arrived(server, 'testnode/prod/api/shared.log', 4 * lines * 200)
  for (let i = 0; i < 4; i++) {
    const got = (await readSource(server, `testnode/prod/api/w${i}.log`)).toString()
    t.ok(got === expected(`own${i}`, lines, 200), `w${i}.log is byte-exact`)
  }
  const sharedText = (await readSource(server, 'testnode/prod/api/shared.log')).toString()
  t.equal(sharedText.length, 4 * lines * 200, 'shared file: every byte once')
  const got = sharedText.split('\n').filter(Boolean)
  for (let i = 0; i < 4; i++) {
    const mine = got.filter(l => l.startsWith(`sh${i} `))
    t.ok(mine.join('\n') + '\n' === expected(`sh${i}`, lines, 200),
      `shared file: writer ${i}'s lines whole, once, in order`)
  }
  const report = await agent.stop()
  t.equal(report.ok, true, 'agent stopped with nothing pending')
})

t.test('rotation by rename and by copytruncate loses and duplicates nothing', async t => {
  const server = await startServer(t)
  const agent = await startAgent(t, server)
  fs.mkdirSync(path.join(agent.mnt, 'shop/a'), { recursive: true })
  fs.mkdirSync(path.join(agent.mnt, 'shop/b'), { recursive: true })
  const lines = 2000
  const [a, b] = await Promise.all([
    writer({
      file: path.join(agent.mnt, 'shop/a/app.log'), lines, size: 150, prefix: 'ren', rotate: 'rename', rotateEvery: 300,
    }).done,
    writer({
      file: path.join(agent.mnt, 'shop/b/app.log'), lines, size: 150, prefix: 'cpt',
      rotate: 'copytruncate', rotateEvery: 300,
    }).done,
  ])
  t.equal(a.lines, lines)
  t.equal(b.lines, lines)
  await arrived(server, 'testnode/shop/a/app.log', lines * 150)
  await arrived(server, 'testnode/shop/b/app.log', lines * 150)
  t.ok((await readSource(server, 'testnode/shop/a/app.log')).toString() === expected('ren', lines, 150),
    'rename rotation: one stream, every line once in order')
  t.ok((await readSource(server, 'testnode/shop/b/app.log')).toString() === expected('cpt', lines, 150),
    'copytruncate rotation: every line once in order')
  const names = (await sources(server)).map(s => s.source)
  t.notOk(names.includes('testnode/shop/b/app.log.1'), 'the copy made by copytruncate is not shipped again')
  // The live file on the mount shows only what was written since the last truncation.
  t.equal(fs.statSync(path.join(agent.mnt, 'shop/b/app.log')).size, (lines % 300 || 300) * 150)
  await agent.stop()
})

t.test('the README\'s demo command (`npm start`, i.e. `logfs up`) ' +
  'runs, writes, drains and finds nothing lost', async t => {
  const { ROOT } = await import('./helpers/cluster')
  const { spawn } = await import('node:child_process')
  const p = spawn('npm', ['start', '--silent', '--', '--duration', '4s', '--json', '--rate', '2000'],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  p.stdout.on('data', (c: Buffer) => { out += c.toString() })
  p.stderr.on('data', (c: Buffer) => { err += c.toString() })
  const code = await new Promise<number | null>(resolve => p.once('exit', resolve))
  if (code !== 0) t.comment(err.slice(-2000))
  t.equal(code, 0, 'npm start exits 0')
  const events = out.split('\n').filter(l => l.startsWith('{')).map(l => JSON.parse(l) as Record<string, unknown>)
  const summary = events.find(e => e.event === 'summary')
  t.equal(summary?.complete, true, 'the server stored every byte the writer wrote')
  t.ok((summary?.lines as number) > 100, 'the sample writer wrote lines')
  if (summary) fs.rmSync(summary.dataDir as string, { recursive: true, force: true })
})
