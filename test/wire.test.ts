// The wire format in-process: frames round-trip with and without deflate; a frame that cannot be read is a
// WireError (the connection closes), a batch that was read but is wrong is an InvalidBatch with its seq (a nack).
import t from 'tap'
import { deflateRawSync } from 'node:zlib'
import {
  CODEC_DEFLATE, CODEC_NONE, ENVELOPE_FLAG, InvalidBatch, MAX_BODY, MAX_TIMESTAMP, WIRE_VERSION, WireError,
  asAgentFrame, asBatch, asServerFrame, batchBytes, decodeFrame, encodeFrame, envelopeMismatch, readEnvelope,
  type BatchFrame,
} from '../lib/wire/frames'

const good = (): BatchFrame => ({
  t: 'batch',
  seq: 7,
  node: 'node-1',
  tenant: 'shop',
  gen: 1732330000000,
  recs: [
    ['shop/api/app.log', 0, 1732330000123, Buffer.from('first line\nsecond line\n')],
    ['shop/web.log', 4096, 1732330000456.5, Buffer.from([0, 1, 2, 0xff])],
  ],
})

/** The error `fn` throws, for checking its class and fields. */
function thrown (fn: () => unknown): Error {
  try {
    fn()
  } catch (err) {
    return err as Error
  }
  throw new Error('nothing was thrown')
}

t.test('frames round-trip, plain and deflated', async t => {
  for (const compress of [false, true]) {
    const frame = encodeFrame(good(), compress)
    t.equal(frame[0], WIRE_VERSION)
    t.equal(frame[1], compress ? CODEC_DEFLATE : CODEC_NONE)
    const back = asBatch(decodeFrame(frame))
    const { recs, ...fields } = back
    const { recs: sent, ...sentFields } = good()
    t.same(fields, sentFields, `${compress ? 'deflated' : 'plain'}: every field comes back`)
    t.same(recs.map(([p, o, ts, d]) => [p, o, ts, Buffer.from(d).toString('hex')]),
      sent.map(([p, o, ts, d]) => [p, o, ts, Buffer.from(d).toString('hex')]), 'records come back byte for byte')
  }
  const repetitive = { t: 'batch', recs: [['a/b', 0, 0, Buffer.alloc(100_000, 'x')]] }
  t.ok(encodeFrame(repetitive, true).length < encodeFrame(repetitive, false).length / 10, 'deflate shrinks log text')
  t.same(asServerFrame(decodeFrame(encodeFrame({ t: 'ack', seq: 7, stored: 10, duplicate: 0 }, true))),
    { t: 'ack', seq: 7, stored: 10, duplicate: 0 })
  t.throws(() => asServerFrame({ t: 'batch' }), new WireError('server sent a frame of unknown type'))
})

t.test('an envelope: read without the body, skipped by the body\'s decoding, checked against the batch', async t => {
  const b = good()
  const envelope = { seq: b.seq, tenant: b.tenant, bytes: batchBytes(b) }
  t.equal(envelope.bytes, 27)
  for (const compress of [false, true]) {
    const frame = encodeFrame(b, compress, envelope)
    t.equal(frame[1], (compress ? CODEC_DEFLATE : CODEC_NONE) | ENVELOPE_FLAG)
    t.same(readEnvelope(frame), envelope, 'the envelope reads back')
    // The body spoilt: the envelope still reads, since it does not touch the body.
    const spoilt = Buffer.from(frame).fill(0xff, 4 + frame.readUInt16BE(2))
    t.same(readEnvelope(spoilt), envelope, 'read without the body')
    const back = asBatch(decodeFrame(frame))
    t.equal(envelopeMismatch(envelope, back), null, 'the batch matches its envelope')
    t.equal(back.recs.length, 2)
  }
  t.equal(readEnvelope(encodeFrame(b, false)), null, 'a frame without an envelope has none')
  t.match(envelopeMismatch({ ...envelope, seq: 8 }, b), /^envelope seq 8 is not the batch's 7$/)
  t.match(envelopeMismatch({ ...envelope, tenant: 'x' }, b), /^envelope tenant x is not the batch's shop$/)
  t.match(envelopeMismatch({ ...envelope, bytes: 1 }, b), /^envelope says 1 log bytes, the records hold 27$/)
  t.match(envelopeMismatch(envelope, { t: 'claim', seq: 7, node: 'n', gen: 1 }), /only with a batch/)

  const head = (n: number): Buffer => {
    const h = Buffer.from([1, ENVELOPE_FLAG, 0, 0])
    h.writeUInt16BE(n, 2)
    return h
  }
  const bad: Array<[string, Buffer, RegExp]> = [
    ['no length', Buffer.from([1, ENVELOPE_FLAG, 0]), /^frame too short for its envelope$/],
    ['longer than the frame', Buffer.concat([head(50), Buffer.alloc(10)]), /^envelope of 50 bytes does not fit/],
    ['empty', Buffer.concat([head(0), Buffer.alloc(10)]), /^envelope of 0 bytes does not fit/],
    ['not msgpack', Buffer.concat([head(2), Buffer.from([0x92, 0xc1]), Buffer.alloc(4)]), /^envelope is not msgpack/],
    ['not [seq, tenant, bytes]', Buffer.concat([head(3), Buffer.from([0x92, 1, 2]), Buffer.alloc(4)]),
      /^envelope must be \[seq, tenant, bytes\]/],
  ]
  for (const [what, frame, message] of bad) {
    const err = thrown(() => readEnvelope(frame))
    t.ok(err instanceof WireError && !(err instanceof InvalidBatch), `${what}: a WireError`)
    t.match(err.message, message, what)
  }
  const slash = thrown(() => readEnvelope(encodeFrame(b, false, { ...envelope, tenant: 'a/b' })))
  t.ok(slash instanceof InvalidBatch && slash.seq === 7, 'a tenant that is not a name: refused by its seq')
})

t.test('a frame that cannot be read is a WireError', async t => {
  const body = encodeFrame({ t: 'batch' }, false).subarray(2)
  const cases: Array<[string, Buffer, RegExp]> = [
    ['too short', Buffer.from([1, 0]), /^frame of 2 bytes is too short$/],
    ['another version', Buffer.concat([Buffer.from([2, 0]), body]), /^wire version 2 is not supported/],
    ['unknown codec', Buffer.concat([Buffer.from([1, 9]), body]), /^codec 9 is unknown$/],
    ['not deflate', Buffer.from([1, 1, 0xff, 0xff, 0xff, 0xff]), /^deflated body does not inflate: /],
    ['torn msgpack', Buffer.from([1, 0, 0x92, 1]), /^body is not msgpack: /],
  ]
  for (const [what, frame, message] of cases) {
    const err = thrown(() => decodeFrame(frame))
    t.ok(err instanceof WireError && !(err instanceof InvalidBatch), `${what}: a WireError`)
    t.match(err.message, message, what)
  }
})

t.test('inflating stops at MAX_BODY', async t => {
  // A header for a msgpack bin 32 whose data fills the buffer: exactly MAX_BODY bytes of body.
  const body = Buffer.alloc(MAX_BODY + 1)
  body[0] = 0xc6
  body.writeUInt32BE(MAX_BODY - 5, 1)
  const frame = (b: Buffer): Buffer =>
    Buffer.concat([Buffer.from([WIRE_VERSION, CODEC_DEFLATE]), deflateRawSync(b, { level: 1 })])
  const atLimit = decodeFrame(frame(body.subarray(0, MAX_BODY))) as Buffer
  t.equal(atLimit.length, MAX_BODY - 5, 'a body of exactly MAX_BODY bytes inflates')
  const err = thrown(() => decodeFrame(frame(body)))
  t.ok(err instanceof WireError && !(err instanceof InvalidBatch), 'one byte more is a WireError')
  t.match(err.message, /^deflated body does not inflate: /)
})

t.test('asAgentFrame: a frame that is no batch or claim, or has no usable seq, is a WireError', async t => {
  const cases: Array<[string, unknown, string]> = [
    ['null', null, 'frame is not a batch or a claim'],
    ['a string', 'batch', 'frame is not a batch or a claim'],
    ['an ack', { t: 'ack', seq: 1 }, 'frame is not a batch or a claim'],
    ['a claim without seq', { t: 'claim', node: 'n', gen: 1 }, 'claim.seq must be a non-negative integer'],
    ['no seq', { ...good(), seq: undefined }, 'batch.seq must be a non-negative integer'],
    ['negative seq', { ...good(), seq: -1 }, 'batch.seq must be a non-negative integer'],
    ['fractional seq', { ...good(), seq: 1.5 }, 'batch.seq must be a non-negative integer'],
    ['seq as text', { ...good(), seq: '7' }, 'batch.seq must be a non-negative integer'],
    ['seq beyond 2^53', { ...good(), seq: 2 ** 53 }, 'batch.seq must be a non-negative integer'],
  ]
  for (const [what, frame, message] of cases) {
    const err = thrown(() => asAgentFrame(frame))
    t.ok(err instanceof WireError && !(err instanceof InvalidBatch), `${what}: a WireError, not an InvalidBatch`)
    t.equal(err.message, message, what)
  }
  t.equal(thrown(() => asBatch({ t: 'claim', seq: 1, node: 'n', gen: 1 })).message, 'frame is not a batch',
    'asBatch takes batches only')
})

t.test('asAgentFrame: a claim is read field by field', async t => {
  t.same(asAgentFrame({ t: 'claim', seq: 3, node: 'web-1', gen: 9 }), { t: 'claim', seq: 3, node: 'web-1', gen: 9 })
  for (const [what, frame, message] of [
    ['node with /', { t: 'claim', seq: 3, node: 'a/b', gen: 9 }, 'claim.node must be a name without /'],
    ['gen as text', { t: 'claim', seq: 3, node: 'n', gen: '9' }, 'claim.gen must be a non-negative integer'],
  ] as Array<[string, unknown, string]>) {
    const err = thrown(() => asAgentFrame(frame))
    t.ok(err instanceof InvalidBatch && err.seq === 3, `${what}: an InvalidBatch with the seq`)
    t.equal(err.message, message, what)
  }
})

t.test('asBatch: each bad field is an InvalidBatch with the seq', async t => {
  const rec = (path: unknown, offset: unknown, ts: unknown, data: unknown): unknown =>
    ({ ...good(), recs: [[path, offset, ts, data]] })
  const data = Buffer.from('x\n')
  const cases: Array<[string, unknown, string]> = [
    ['empty node', { ...good(), node: '' }, 'batch.node must be a name without /'],
    ['node with /', { ...good(), node: 'a/b' }, 'batch.node must be a name without /'],
    ['node ..', { ...good(), node: '..' }, 'batch.node must be a name without /'],
    ['node too long', { ...good(), node: 'n'.repeat(4097) }, 'batch.node must be a name without /'],
    ['node as number', { ...good(), node: 1 }, 'batch.node must be a name without /'],
    ['tenant with /', { ...good(), tenant: 'a/b' }, 'batch.tenant must be a name without /'],
    ['tenant .', { ...good(), tenant: '.' }, 'batch.tenant must be a name without /'],
    ['negative gen', { ...good(), gen: -1 }, 'batch.gen must be a non-negative integer'],
    ['fractional gen', { ...good(), gen: 0.5 }, 'batch.gen must be a non-negative integer'],
    ['recs not a list', { ...good(), recs: {} }, 'batch.recs must be an array'],
    ['record not a list', { ...good(), recs: ['x'] }, 'a record must be [path, offset, timestamp, data]'],
    ['record of 3', { ...good(), recs: [['shop/a', 0, 0]] }, 'a record must be [path, offset, timestamp, data]'],
    ['absolute path', rec('/shop/a', 0, 0, data), 'record path "/shop/a" is not a relative path inside the mount'],
    ['path with ..', rec('shop/../x', 0, 0, data), 'record path "shop/../x" is not a relative path inside the mount'],
    ['empty component', rec('shop//a', 0, 0, data), 'record path "shop//a" is not a relative path inside the mount'],
    ['path as number', rec(5, 0, 0, data), 'record path 5 is not a relative path inside the mount'],
    ['other tenant', rec('web/a.log', 0, 0, data), 'record path web/a.log is not in tenant shop'],
    ['top-level file', rec('a.log', 0, 0, data), 'record path a.log is not in tenant shop'],
    ['negative offset', rec('shop/a', -1, 0, data), 'record offset must be a non-negative integer'],
    ['fractional offset', rec('shop/a', 0.5, 0, data), 'record offset must be a non-negative integer'],
    ['negative time', rec('shop/a', 0, -1, data),
      `record timestamp -1 is not a time in ms since 1970 (0 to ${MAX_TIMESTAMP})`],
    ['time past Date', rec('shop/a', 0, MAX_TIMESTAMP + 1, data),
      `record timestamp ${MAX_TIMESTAMP + 1} is not a time in ms since 1970 (0 to ${MAX_TIMESTAMP})`],
    ['time NaN', rec('shop/a', 0, NaN, data),
      `record timestamp NaN is not a time in ms since 1970 (0 to ${MAX_TIMESTAMP})`],
    ['time as text', rec('shop/a', 0, '0', data),
      `record timestamp 0 is not a time in ms since 1970 (0 to ${MAX_TIMESTAMP})`],
    ['data as text', rec('shop/a', 0, 0, 'x\n'), 'record data must be binary'],
    ['end beyond 2^53', rec('shop/a', 2 ** 53 - 1, 0, data), 'record offset + length is beyond 2^53'],
  ]
  for (const [what, frame, message] of cases) {
    const err = thrown(() => asBatch(frame))
    t.ok(err instanceof InvalidBatch && err.seq === 7, `${what}: an InvalidBatch for seq 7`)
    t.equal(err.message, message, what)
  }
  t.ok(asBatch({ ...good(), tenant: 'default', recs: [['a.log', 0, 0, data]] }), 'a top-level file is tenant default')
  t.ok(asBatch({ ...good(), recs: [] }), 'a batch may be empty')
  t.ok(asBatch(rec('shop/a', 2 ** 53 - 3, MAX_TIMESTAMP, data)), 'the largest offset and time that are allowed')
})
