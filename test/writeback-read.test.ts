// Writeback cache mode (`logfs mount --cache writeback`): the kernel's page cache takes write()s and a flusher
// syncs the mount every --flush-interval. The kernel sends the partial last page again at each flush and pages
// do not come in file order, yet every byte must reach the server once, in file order, within a bound.
// This file: fsync and fdatasync, and recent bytes read back through the mount.
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { execFileSync } from 'node:child_process'
import { arrived, readSource, startAgent, startServer, waitFor } from './helpers/cluster'
import { PAGE, WB, WB_IDLE, bytesOf, chunkWriter, oddLines } from './helpers/writeback'

t.test('fsync and fdatasync return only once the server has the bytes', async t => {
  const server = await startServer(t)
  // The flusher would not run for a minute: only the fsync can have brought the bytes to the server.
  const agent = await startAgent(t, server, WB_IDLE)
  fs.mkdirSync(path.join(agent.mnt, 'db'))
  const source = 'testnode/db/sync.log'
  const fd = fs.openSync(path.join(agent.mnt, 'db/sync.log'), 'a')
  let written = ''
  let early = 0
  const texts = ['must be durable\n', 'y'.repeat(5000) + '\n', 'short\n', 'z'.repeat(PAGE) + '\n', 'end\n']
  for (const [i, text] of texts.entries()) {
    fs.writeSync(fd, text)
    written += text
    if (await bytesOf(server, source) === written.length) early++
    if (i % 2) fs.fdatasyncSync(fd)
    else fs.fsyncSync(fd)
    t.equal(await bytesOf(server, source), written.length, `after ${i % 2 ? 'fdatasync' : 'fsync'} ${i + 1} `
      + `the server already has all ${written.length} bytes`)
  }
  t.comment(`${early} of ${texts.length} writes were on the server before their fsync (expected 0)`)
  t.equal((await readSource(server, source)).toString(), written, 'byte-exact, the re-sent partial pages once')
  fs.closeSync(fd)
  t.match(await agent.stop(), { ok: true, pendingBytes: 0 })
})

t.test('recent bytes read back through the mount: page cache, logfs itself (O_DIRECT), after eviction', async t => {
  const server = await startServer(t)
  const agent = await startAgent(t, server, WB)
  fs.mkdirSync(path.join(agent.mnt, 'rd'))
  const file = path.join(agent.mnt, 'rd/r.log')
  const first = oddLines('rd', 400, 7)
  // Held open: the partial last page stays the kernel's, dirty or not, as in a running application.
  await chunkWriter(t, file, first, { hold: true }).written
  let data = Buffer.from(first.join(''))
  const window = 30000
  const cached = (): Buffer => execFileSync('tail', ['-c', String(window), file])
  const direct = (from: number, count = window): Buffer => execFileSync('dd',
    [`if=${file}`, 'iflag=direct,skip_bytes,count_bytes', `skip=${from}`, `count=${count}`, 'bs=64K'],
    { stdio: ['ignore', 'pipe', 'ignore'] })
  t.ok(cached().equals(data.subarray(-window)), 'tail -c through the page cache gives the last bytes written')
  // O_DIRECT: the kernel writes dirty pages back, then asks logfs, which answers from the file's tail.
  t.ok(direct(data.length - window).equals(data.subarray(-window)), 'an O_DIRECT read of the tail from logfs too')
  t.ok(direct(0, PAGE).equals(Buffer.alloc(PAGE)),
    'bytes older than logfs\'s tail window read as zeros: the direct read did reach logfs')

  // Drop the file's clean pages: the next append makes the kernel read the partial last page back from logfs.
  await waitFor('the first part stored', async () => await bytesOf(server, 'testnode/rd/r.log') === data.length)
  execFileSync('dd', [`if=${file}`, 'iflag=nocache', 'count=0'], { stdio: 'ignore' })
  const evicted = execFileSync('head', ['-c', String(PAGE), file]).equals(Buffer.alloc(PAGE))
  t.comment(evicted ? 'the page cache was dropped (old bytes now read as zeros)' : 'the page cache was not dropped')
  const more = oddLines('rd2', 60, 8)
  await chunkWriter(t, file, more).written
  data = Buffer.concat([data, Buffer.from(more.join(''))])
  t.ok(cached().equals(data.subarray(-window)), 'after eviction and more appends: tail -c gives the bytes written')
  t.ok(direct(data.length - window).equals(data.subarray(-window)), 'and so does an O_DIRECT read')
  await arrived(server, 'testnode/rd/r.log', data.length)
  t.ok((await readSource(server, 'testnode/rd/r.log')).equals(data), 'the server has every byte once, in order')
  t.match(await agent.stop(), { ok: true, pendingBytes: 0 })
})
