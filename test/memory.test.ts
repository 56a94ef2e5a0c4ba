// A ring is resident only while it holds bytes: its pages are given back once the server acknowledged them, so
// an agent that shipped far more than its rings hold keeps only what is still buffered (the rings are pages of
// the memfd, counted in RssShmem of every process that maps it).
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { arrived, startAgent, startServer, writer } from './helpers/cluster'

const MiB = 1024 * 1024
const shmem = (pid: number): number =>
  Number(/RssShmem:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) * 1024

t.test('after 48 MiB through two 16 MiB rings, and every byte acknowledged, the rings hold no pages', async t => {
  const server = await startServer(t)
  const agent = await startAgent(t, server, ['--ring-size', '16MiB'])
  const idle = shmem(agent.proc.pid!)
  for (const tenant of ['a', 'b']) fs.mkdirSync(path.join(agent.mnt, tenant))
  const writes = ['a', 'b'].map(tenant => writer({
    file: path.join(agent.mnt, tenant, 'big.log'), lines: 6 * 4096, size: 1024, prefix: tenant,
  }).done)
  for (const w of await Promise.all(writes)) t.equal(w.error, null, 'the writer wrote every line')
  for (const tenant of ['a', 'b']) await arrived(server, `testnode/${tenant}/big.log`, 24 * MiB, 60000)
  // The agent frees ring space as acknowledgements come in; the last one is in by now or within moments.
  let after = shmem(agent.proc.pid!)
  for (let i = 0; i < 40 && after - idle > 4 * MiB; i++) {
    await new Promise(resolve => setTimeout(resolve, 50))
    after = shmem(agent.proc.pid!)
  }
  t.ok(after - idle <= 4 * MiB, `the agent's shared memory grew ${((after - idle) / MiB).toFixed(1)} MiB over idle ` +
    `(${(idle / MiB).toFixed(1)} MiB), not the 32 MiB of its rings`)
  t.match(await agent.stop(), { ok: true, pendingBytes: 0 })
})
