// Fuzzing the ingest protocol against a real server while a real agent ships a known stream through a real mount.
// Random and mutated frames (truncated msgpack, wrong types, huge length claims, bad versions and codecs, inflation
// bombs, out-of-order and repeated cursors, absurd times, no token, envelopes good and mutated) must each get a
// clear refusal, and the server must stay up, keep the agent's data exact, store the valid frames exactly once, and
// keep answering every reader.
// A fixed seed keeps `npm test` repeatable; LOGFS_FUZZ_FRAMES and LOGFS_FUZZ_SEED make a longer or another run.
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { deflateRawSync } from 'node:zlib'
import { Packr } from 'msgpackr'
import type WebSocket from 'ws'
import { asBatch, batchBytes, decodeFrame, encodeFrame, type BatchFrame } from '../lib/wire/frames'
import { expected } from './fixtures/lines'
import { connect, exchange, type Answer } from './helpers/ingest'
import { TOKEN, api, arrived, cli, readSource, startAgent, startServer, writer } from './helpers/cluster'

const FRAMES = Number(process.env.LOGFS_FUZZ_FRAMES ?? 600)
const SEED = Number(process.env.LOGFS_FUZZ_SEED ?? 0x10f5)

/** mulberry32: small, fast, and the same sequence everywhere for a seed. */
function prng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = Math.imul(a ^ (a >>> 15), 1 | a)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

const packr = new Packr({ useRecords: false, moreTypes: false })
/** A batch with its envelope, as an agent sends it to a server that lists `envelope`. */
const withEnvelope = (body: object, compress: boolean): Buffer => {
  const b = body as BatchFrame
  return encodeFrame(b, compress, { seq: b.seq, tenant: b.tenant, bytes: batchBytes(b) })
}

/** Expected store content under the server's rule: per (source, gen), bytes at or above the high-water mark. */
class Model {
  private readonly high = new Map<string, number>()
  private readonly stored = new Map<string, Map<number, Buffer[]>>()

  apply (node: string, gen: number, recs: Array<[string, number, number, Buffer]>): void {
    for (const [p, offset, , data] of recs) {
      const source = `${node}/${p}`
      const key = `${gen}\n${source}`
      const h = this.high.get(key) ?? 0
      const end = offset + data.length
      if (end <= h) continue
      let gens = this.stored.get(source)
      if (!gens) { gens = new Map(); this.stored.set(source, gens) }
      gens.set(gen, [...(gens.get(gen) ?? []), data.subarray(Math.max(0, h - offset))])
      this.high.set(key, end)
    }
  }

  /** Each source's bytes in cursor order: generations ascending, then offset. */
  contents (): Map<string, Buffer> {
    const out = new Map<string, Buffer>()
    for (const [source, gens] of this.stored) {
      out.set(source, Buffer.concat([...gens.entries()].sort((a, b) => a[0] - b[0]).flatMap(([, parts]) => parts)))
    }
    return out
  }
}

t.test(`ingest fuzz: ${FRAMES} frames, seed ${SEED}`, async t => {
  const server = await startServer(t)
  const agent = await startAgent(t, server)
  fs.mkdirSync(path.join(agent.mnt, 'real'))
  const lines = 3000
  const honest = writer({ file: path.join(agent.mnt, 'real/app.log'), lines, size: 100, prefix: 'ok', delayMs: 1 })

  const rand = prng(SEED)
  const int = (n: number): number => Math.floor(rand() * n)
  const pick = <T>(xs: T[]): T => xs[int(xs.length)]
  const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => int(256)))
  const model = new Model()
  const junkValues = (): unknown =>
    pick([null, -1, 1.5, 2 ** 60, 'x', '', [], {}, true, Buffer.from('b'), 'a'.repeat(5000), NaN, -0])

  /** A well-formed batch with cursors that may go backwards, repeat, or skip ahead. */
  const goodBatch = (
    seq: number, node: string, gen: number,
  ): { body: Record<string, unknown>, recs: Array<[string, number, number, Buffer]> } => {
    const recs: Array<[string, number, number, Buffer]> = []
    for (let i = 0, n = 1 + int(4); i < n; i++) {
      const data = Buffer.from(`${node} ${gen} ${seq}.${i} ${'z'.repeat(int(40))}\n`)
      recs.push([`fz/${pick(['a.log', 'b.log', 'deep/c.log'])}`, int(400), Date.now(), data])
    }
    return { body: { t: 'batch', seq, node, tenant: 'fz', gen, recs }, recs }
  }

  type Kind = 'good' | 'truncated' | 'flipped' | 'wrong-type' | 'random' | 'version' | 'codec' | 'huge-claim' |
    'bomb' | 'bad-time' | 'text' | 'no-token' | 'empty-recs-junk' | 'enveloped' | 'envelope-flipped'
  const kinds: Kind[] = ['good', 'good', 'good', 'truncated', 'flipped', 'wrong-type', 'random', 'version', 'codec',
    'huge-claim', 'bomb', 'bad-time', 'text', 'no-token', 'empty-recs-junk', 'enveloped', 'envelope-flipped']
  // 80 MiB of zeros deflate to ~80 KiB: more than a body may inflate to.
  const bomb = Buffer.concat([Buffer.from([1, 1]), deflateRawSync(Buffer.alloc(80 * 1024 * 1024))])
  const outcomes = new Map<string, number>()
  const count = (what: string): void => { outcomes.set(what, (outcomes.get(what) ?? 0) + 1) }

  let ws: WebSocket | null = null
  let node = 'fz0'
  let gen = 1
  const fresh = async (): Promise<WebSocket> => {
    ws?.terminate()
    // A new connection is a new agent run: its own node claim, maybe a generation below an earlier one.
    node = `fz${int(3)}`
    gen = 1 + int(5)
    ws = await connect(server.ws, TOKEN)
    return ws
  }
  const live = async (): Promise<WebSocket> => ws !== null && ws.readyState === ws.OPEN ? ws : fresh()

  for (let seq = 1; seq <= FRAMES; seq++) {
    if (int(20) === 0) await fresh()
    const kind = pick(kinds)
    const { body, recs } = goodBatch(seq, node, gen)
    const valid = encodeFrame(body, rand() < 0.5)
    let frame: Buffer | string
    switch (kind) {
      case 'good': frame = valid; break
      case 'enveloped': frame = withEnvelope(body, rand() < 0.5); break
      case 'envelope-flipped': {
        // Bits flipped in the envelope's length or its fields: the body behind it is good.
        frame = withEnvelope(body, rand() < 0.5)
        for (let i = 0, n = 1 + int(3); i < n; i++) frame[2 + int(2 + frame.readUInt16BE(2))] ^= 1 << int(8)
        break
      }
      case 'truncated': frame = valid.subarray(0, 1 + int(valid.length - 1)); break
      case 'flipped': {
        frame = Buffer.from(valid)
        for (let i = 0, n = 1 + int(4); i < n; i++) frame[2 + int(frame.length - 2)] ^= 1 << int(8)
        break
      }
      case 'wrong-type': {
        const field = pick(['seq', 'node', 'tenant', 'gen', 'recs', 't'])
        frame = encodeFrame({ ...body, [field]: junkValues() }, false)
        break
      }
      case 'empty-recs-junk': {
        frame = encodeFrame({ ...body, recs: [[...recs[0].slice(0, int(4)), junkValues()]] }, false)
        break
      }
      case 'random': frame = bytes(int(64)); break
      case 'version': frame = Buffer.concat([Buffer.from([pick([0, 2, 255])]), valid.subarray(1)]); break
      case 'codec': frame = Buffer.concat([valid.subarray(0, 1), Buffer.from([2 + int(250)]), valid.subarray(2)]); break
      case 'huge-claim': {
        // A map claiming 2^32-1 entries, a string and a binary claiming 4 GiB: nothing may be allocated for them.
        const claim = pick([
          [0xdf, 0xff, 0xff, 0xff, 0xff],
          [0xdb, 0xff, 0xff, 0xff, 0xf0],
          [0xc6, 0x7f, 0xff, 0xff, 0xff],
          [0xdd, 0xff, 0xff, 0xff, 0xff],
        ])
        frame = Buffer.concat([Buffer.from([1, 0]), Buffer.from(claim), bytes(int(16))])
        break
      }
      case 'bomb': {
        frame = bomb
        break
      }
      case 'bad-time': {
        const bad = recs.map(([p, o, , d]) => [p, o, pick([1e300, -5, Infinity, 9e15]), d])
        frame = encodeFrame({ ...body, recs: bad }, false)
        break
      }
      case 'text': frame = packr.pack(body).toString('latin1'); break
      case 'no-token': {
        const refused = await connect(server.ws, pick(['', 'wrong-token-xyz', TOKEN + 'x']))
          .then(() => 0, (e: { status?: number }) => e.status ?? -1)
        t.equal(refused, 401, `frame ${seq}: a connection without a valid token is refused at the handshake`)
        count('no-token → 401')
        continue
      }
    }
    const conn = await live().catch(async (err: Error) => {
      await Promise.race([server.exited, new Promise(resolve => setTimeout(resolve, 500))])
      throw new Error(`frame ${seq}: ${err.message}; server stderr: ${server.stderr.slice(-3000)}`)
    })
    // ws sends a string as a text frame, which is not part of the protocol.
    const pending: Promise<Answer> = exchange(conn, frame)
    const { frame: reply, close } = await pending
    if (reply?.t === 'ack') {
      // A mutation can leave a frame valid (a flipped bit in the data or an offset, -0 for a number): stored like
      // any other, so the model takes what the server read.
      const sent = asBatch(decodeFrame(Buffer.from(frame)))
      model.apply(sent.node, sent.gen, sent.recs as Array<[string, number, number, Buffer]>)
      count(`${kind} → ack`)
      continue
    }
    if (reply === null) { t.fail(`frame ${seq} (${kind}): closed without a word`); continue }
    t.ok(typeof reply.message === 'string' && reply.message.length > 0,
      `frame ${seq} (${kind}): ${String(reply.t)} says why`)
    // A good batch is refused only because another generation holds the node.
    if (kind === 'good' || kind === 'enveloped') {
      t.match(reply, { t: 'nack', code: 'conflict' }, `frame ${seq} (${kind}) is stored or meets a held node`)
    }
    if (reply.t === 'error') {
      t.equal((await close)[0], 1007, `frame ${seq} (${kind}): closed as invalid payload`)
      ws = null
    }
    count(`${kind} → ${String(reply.t)}${reply.t === 'nack' ? ' ' + String(reply.code) : ''}`)
  }
  ;(ws as WebSocket | null)?.close()
  t.comment(`outcomes: ${JSON.stringify(Object.fromEntries([...outcomes].sort()))}`)

  t.same(await honest.done, { lines, bytes: lines * 100, error: null }, 'the honest writer finished')
  await arrived(server, 'testnode/real/app.log', lines * 100)
  t.ok((await readSource(server, 'testnode/real/app.log')).equals(Buffer.from(expected('ok', lines, 100))),
    'the agent\'s data is exact')
  for (const [source, want] of model.contents()) {
    t.ok((await readSource(server, source)).equals(want),
      `${source}: exactly the acknowledged bytes, each once, in cursor order`)
  }

  t.equal(server.proc.exitCode, null, 'the server is still up')
  t.equal((await api(server, '/healthz')).status, 200)
  const S = ['--server', server.http]
  for (const args of [['sources'], ['grep', 'zzz', '--source', '**/fz/**'], ['grep', '-E', '^fz[0-9] '],
    ['tail', 'testnode/real/app.log'], ['cat', 'testnode/real/app.log']]) {
    const r = await cli([...args, ...S])
    t.equal(r.code, 0, `logfs ${args.join(' ')} answers (${r.stderr.trim().slice(0, 200)})`)
  }
  const metrics = (await api<Buffer>(server, '/metrics')).body.toString()
  t.match(metrics, /logfs_server_frames_malformed_total [1-9]/, 'malformed frames are counted')
  t.match(metrics, /logfs_server_batches_invalid_total [1-9]/, 'refused batches are counted')
  t.equal((await agent.stop()).ok, true, 'the agent drains and stops cleanly')
})
