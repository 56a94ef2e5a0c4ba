// Input that broke stored data before: generations out of order, absurd record times, source names that are not
// ASCII. Each case is stored exactly and every reader keeps answering.
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { encodeFrame } from '../lib/wire/frames'
import { encodeEntry, fileHeader } from '../lib/store/disk/segment'
import { batch, connect, exchange } from './helpers/ingest'
import { TOKEN, api, cli, readSource, sleep, sources, startServer, tempDir } from './helpers/cluster'

const rec = (p: string, offset: number, text: string, ts = Date.now()): unknown[] => [p, offset, ts, Buffer.from(text)]

t.test('an older generation after a newer one is stored in cursor order and the tenant stays readable', async t => {
  // An agent restarted after the clock went back: its generation is lower than its predecessor's.
  const server = await startServer(t)
  const agentRun = async (gen: number, batches: unknown[][]): Promise<void> => {
    const ws = await connect(server.ws, TOKEN)
    for (const [i, recs] of batches.entries()) {
      const { frame } = await exchange(ws, encodeFrame(batch(i + 1, 'prod', recs, { gen }), false))
      t.equal(frame?.t, 'ack', `gen ${gen}, batch ${i + 1} acknowledged`)
    }
    ws.close()
    await sleep(100)
  }
  await agentRun(2000, [
    [rec('prod/app.log', 0, 'new 1\n'), rec('prod/other.log', 0, 'other\n')],
    [rec('prod/app.log', 6, 'new 2\n')],
  ])
  await agentRun(1000, [[rec('prod/app.log', 0, 'old 1\n')], [rec('prod/app.log', 6, 'old 2\n')]])
  const all = 'old 1\nold 2\nnew 1\nnew 2\n'
  t.equal((await readSource(server, 'n1/prod/app.log')).toString(), all, 'read: cursor order, generation first')
  const row = (await sources(server)).find(s => s.source === 'n1/prod/app.log')
  t.match(row, { bytes: 24, next: '2000:12' }, 'sizes count each byte once')
  const paged = await api<Buffer>(server, '/v1/read?source=n1/prod/app.log&from=1000:6&max=7')
  t.equal(paged.body.toString(), 'old 2\nn', 'a read from the older generation continues into the newer one')
  t.equal(paged.headers.get('logfs-next'), '2000:1')
  const tail = await api<{ lines: Array<{ text: string, cursor: string }> }>(server,
    '/v1/tail?source=n1/prod/app.log&lines=3')
  t.same(tail.body.lines.map(l => l.text), ['old 2', 'new 1', 'new 2'])
  const ctx = await api<{ before: unknown[], hit: { text: string } }>(server,
    '/v1/context?source=n1/prod/app.log&cursor=1000:6&before=5')
  t.match(ctx.body, { before: [{ text: 'old 1' }], hit: { text: 'old 2' } })
  const grep = await cli(['grep', 'old', '--json', '--server', server.http])
  t.equal(grep.code, 0, 'grep over the tenant answers')
  t.equal(JSON.parse(grep.stdout).hits.length, 2)
  const cat = await cli(['cat', 'prod/app.log', '--server', server.http])
  t.equal(cat.stdout, all, 'cat too')

  server.proc.kill('SIGKILL')
  await server.exited
  const again = await startServer(t, { dataDir: server.dataDir })
  t.equal((await readSource(again, 'n1/prod/app.log')).toString(), all, 'the same after the index is rebuilt from disk')
  t.match((await sources(again)).find(s => s.source === 'n1/prod/app.log'), { bytes: 24 })
})

t.test('absurd record times are refused at ingest; stored ones do not break any reader', async t => {
  const server = await startServer(t)
  const ws = await connect(server.ws, TOKEN)
  for (const [i, ts] of [1e300, -1, Infinity, NaN, 8.64e15 + 1].entries()) {
    const { frame } = await exchange(ws, encodeFrame(batch(i + 1, 'prod', [rec('prod/t.log', 0, 'x\n', ts)]), false))
    t.match(frame, { t: 'nack', seq: i + 1, code: 'invalid', message: /timestamp/ }, `time ${ts}: nack invalid`)
  }
  const { frame } = await exchange(ws, encodeFrame(batch(9, 'prod', [rec('prod/t.log', 0, 'fine\n')]), false))
  t.match(frame, { t: 'ack', seq: 9, stored: 5 }, 'the connection goes on; a good batch is stored')
  ws.close()
  t.equal((await sources(server)).length, 1, 'nothing of the refused batches was stored')

  // A store written before times were checked: a segment holding records with such times.
  const dataDir = tempDir(t, 'old')
  const seg = [fileHeader()]
  let off = 0
  for (const ts of [Date.now(), 1e300, -1e300, Date.now()]) {
    const data = Buffer.from(`line at ${ts} timeout\n`)
    seg.push(encodeEntry({ source: 'n1/prod/old.log', gen: 5, offset: off, timestamp: ts, data }))
    off += data.length
  }
  fs.writeFileSync(path.join(dataDir, '000000000001.seg'), Buffer.concat(seg))
  const old = await startServer(t, { dataDir })
  const S = ['--server', old.http]
  const list = await cli(['sources', ...S])
  t.equal(list.code, 0, `logfs sources answers: ${list.stderr}`)
  t.match(list.stdout, /prod\/old\.log/)
  for (const args of [['grep', 'timeout'], ['grep', 'timeout', '--since', '1h'],
    ['grep', '-E', 'time+out', '--until', '2999-01-01'], ['tail', 'prod/old.log'], ['cat', 'prod/old.log']]) {
    const r = await cli([...args, ...S], { FORCE_COLOR: '1' })
    t.equal(r.code, 0, `logfs ${args.join(' ')} answers (${r.stderr.trim()})`)
  }
  const g = JSON.parse((await cli(['grep', 'timeout', '--json', ...S])).stdout) as { hits: unknown[] }
  t.equal(g.hits.length, 4, 'every line is found')
  t.equal((await api(old, '/v1/grep?q=timeout&until=100000000000')).status, 410,
    'a range before the oldest record is still 410')
})

t.test('source names that are not ASCII pass through every endpoint and command', async t => {
  const server = await startServer(t)
  const names = [
    'prod/日本語/é 😀.log', 'prod/new\nline.log', 'prod/\ufffd.log', 'prod/quote"and\\back.log', 'prod/tab\there.log',
  ]
  const ws = await connect(server.ws, TOKEN)
  for (const [i, name] of names.entries()) {
    const recs = [rec(name, 0, `first ${i}\nneedle ${i}\nlast ${i}\n`)]
    const { frame } = await exchange(ws, encodeFrame(batch(i + 1, 'prod', recs), false))
    t.match(frame, { t: 'ack', stored: 21 + String(i).length * 3 }, `${JSON.stringify(name)} stored`)
  }
  ws.close()
  const S = ['--server', server.http]
  const listed = JSON.parse((await cli(['sources', '--json', ...S])).stdout) as Array<{ path: string }>
  t.same(listed.map(s => s.path).sort(), [...names].sort(), 'sources --json lists every name exactly')
  const table = await cli(['sources', ...S])
  t.equal(table.stdout.trim().split('\n').length, names.length + 1, 'the table keeps one row per source')
  for (const [i, name] of names.entries()) {
    const full = `n1/${name}`
    const q = encodeURIComponent(full)
    const what = JSON.stringify(name)
    const read = await api<Buffer>(server, `/v1/read?source=${q}`)
    t.equal(read.status, 200, `${what}: /v1/read`)
    t.equal(decodeURIComponent(read.headers.get('logfs-source') ?? ''), full,
      `${what}: logfs-source header, percent-encoded`)
    const tail = await api<{ source: string, lines: Array<{ text: string }> }>(server, `/v1/tail?source=${q}&lines=1`)
    t.match(tail.body, { source: full, lines: [{ text: `last ${i}` }] }, `${what}: /v1/tail`)
    const grep = await api<{ hits: Array<{ source: string, cursor: string }> }>(server,
      `/v1/grep?q=needle%20${i}&source=${q}`)
    t.match(grep.body.hits, [{ source: full }], `${what}: /v1/grep`)
    const ctx = await api<{ source: string, hit: { text: string } }>(server,
      `/v1/context?source=${q}&cursor=${grep.body.hits[0].cursor}`)
    t.match(ctx.body, { source: full, hit: { text: `needle ${i}` } }, `${what}: /v1/context`)
    const cat = await cli(['cat', full, ...S])
    t.equal(cat.stdout, `first ${i}\nneedle ${i}\nlast ${i}\n`, `${what}: logfs cat (${cat.stderr.trim()})`)
    const tl = await cli(['tail', '-n', '1', full, ...S])
    t.equal(tl.stdout, `last ${i}\n`, `${what}: logfs tail`)
    const ctxCli = await cli(['context', `${full}@${grep.body.hits[0].cursor}`, '--json', ...S])
    t.equal(ctxCli.code, 0, `${what}: logfs context (${ctxCli.stderr.trim()})`)
  }
  const g = await cli(['grep', 'needle', ...S])
  t.equal(g.stdout.trim().split('\n').length, names.length, 'logfs grep prints one line per hit, names escaped')
  t.match(g.stdout, /new\\x0aline\.log/)
})
