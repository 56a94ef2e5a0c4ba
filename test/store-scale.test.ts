// A 1 GB store: a real `logfs server` restarted on it opens the segments' sidecars instead of reading
// the data (the open segment's too, written when the store stopped), and answers its first search and trace from
// a few blocks, not from a scan.
import t from 'tap'
import { Store } from '../lib/store/disk/store'
import { api, startServer, tempDir } from './helpers/cluster'
import { storeFiles } from '../lib/store/disk/layout'

const GB = 1e9
const SOURCES = ['node-1/shop/api/app.log', 'node-1/shop/worker/app.log', 'node-1/bank/db/app.log']

const trace = (i: number): string => `${(i * 2654435761 % 4294967296).toString(16).padStart(8, '0')}${i}`

t.test('a server restarted on a 1 GB store answers its first query without a full scan', async t => {
  const dataDir = tempDir(t, 'scale')
  const store = Store.open({ dir: dataDir, segmentBytes: 64 << 20, retentionBytes: 1e12, retentionMs: 0 })
  const offsets = SOURCES.map(() => 0)
  let written = 0
  let line = 0
  while (written < GB) {
    const entries = SOURCES.map((source, k) => {
      let text = ''
      for (let j = 0; j < 2000; j++, line++) {
        const msg = line % 100_000 === 0 ? `needle-${line}.` : 'request handled, everything fine'
        text += `{"level":"info","trace_id":"${trace(line >> 2)}","rpc_id":"1.${k}","msg":"${msg}","seq":${line}}\n`
      }
      const data = Buffer.from(text)
      const entry = { source, gen: 1, offset: offsets[k], timestamp: Date.now(), data }
      offsets[k] += data.length
      written += data.length
      return entry
    })
    await store.append(entries)
  }
  await store.indexed()
  await store.close()
  const segments = storeFiles(dataDir, '.seg').length
  t.equal(storeFiles(dataDir, '.idx').length, segments,
    `${segments} segments, each with a sidecar: the open one's was written when the store stopped`)

  const started = Date.now()
  const server = await startServer(t, { dataDir })
  const metrics = (await api<Buffer>(server, '/metrics')).body.toString()
  t.match(metrics, new RegExp(`^logfs_store_indexed_segments ${segments}$`, 'm'),
    'every segment answers from its sidecar at once, the open one too')
  t.match(server.stderr, /rebuild=0 unusable=0/)

  const needle = `needle-${Math.floor(line / 2 / 100_000) * 100_000}.`
  const grep = await api<{ hits: Array<{ text: string }>, scannedBytes: number, indexed: boolean }>(server,
    `/v1/grep?q=${needle}&limit=10`)
  t.equal(grep.status, 200)
  t.equal(grep.body.hits.length, 1)
  t.match(grep.body.hits[0].text, needle)
  t.ok(grep.body.indexed)
  t.ok(grep.body.scannedBytes < written / 100,
    `the first search read ${grep.body.scannedBytes} bytes of ${written}, ${Date.now() - started} ms after the start`)

  const id = trace(Math.floor(line / 8))
  const found = await api<{ lines: number, sources: string[] }>(server, `/v1/trace?id=${id}`)
  t.equal(found.status, 200)
  t.equal(found.body.lines, 4, 'a trace: its four lines')
})
