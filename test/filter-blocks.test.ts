// The token filter builder's blocks (lib/jetstream/filter-blocks.ts), without a cluster: which tokens a block of
// messages holds, whether it is one message (tokenized where it lies) or several (copied into one), and the token
// cut across two messages of one source, joined into the block of the later one.
import t from 'tap'
import { BLOCK_BYTES, BlockCutter, type RunMessage } from '../lib/jetstream/filter-blocks'
import { forEachToken, tokenHash } from '../lib/store/tokens'

const hashesOf = (...texts: string[]): number[] => {
  const all = new Set<number>()
  for (const text of texts) {
    const b = Buffer.from(text)
    forEachToken(b, 0, b.length, (_s, _e, h) => all.add(h))
  }
  return [...all].sort((a, b) => a - b)
}

const message = (seq: number, source: string, offset: number, text: string): RunMessage =>
  ({ seq, source, gen: 1, offset, data: Buffer.from(text) })

t.test('a message of a whole block is a block of its own tokens, its bytes left as they were', async t => {
  const cutter = new BlockCutter(async () => null)
  const line = 'ERROR upstream_timeout id=4bf92f35 user=alice\n'
  const text = line.repeat(Math.ceil(BLOCK_BYTES / line.length))
  const m = message(1, 'a.log', 0, text)
  const block = await cutter.add(m)
  t.ok(block !== null, 'cut when full')
  t.same([...block!.hashes], hashesOf(line), 'its tokens')
  t.match(block, { last: 1, unfiltered: false, bytes: text.length })
  t.equal(Buffer.from(m.data).toString(), text, 'the message is unchanged')
  t.equal(cutter.cut(), null, 'nothing pending after')
})

t.test('messages of several sources make one block; a token cut across two of a source is joined', async t => {
  const cutter = new BlockCutter(async () => null)
  t.equal(await cutter.add(message(1, 'a.log', 0, 'first line alpha_be')), null)
  t.equal(await cutter.add(message(2, 'b.log', 0, 'other source gamma\n')), null)
  t.equal(await cutter.add(message(3, 'a.log', 19, 'ta_rest of it\n')), null)
  const block = cutter.cut()
  // The first half is a token where its message ends (nothing says then that it goes on); the second is none.
  t.same([...block!.hashes], [...new Set([...hashesOf('first line alpha_be other source gamma of it'),
    tokenHash(Buffer.from('alpha_beta_rest'), 0, 15)])].sort((a, b) => a - b),
  'the tokens of all three, and the cut one whole')
  t.match(block, { last: 3, unfiltered: false, bytes: 19 + 19 + 14 })
})

t.test('a message that goes on from bytes the builder has not seen, inside a token: the block is unfiltered',
  async t => {
    const cutter = new BlockCutter(async () => Buffer.from('x'.repeat(64)))
    await cutter.add(message(7, 'a.log', 4096, 'tail_of_a_long_token then words\n'))
    t.match(cutter.cut(), { last: 7, unfiltered: true }, 'no filter can say what it holds')
  })
