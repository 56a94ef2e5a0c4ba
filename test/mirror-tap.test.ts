// The tap a filter builder reads a stream's messages from (lib/jetstream/mirror-tap.ts), without a cluster: what
// it hands over and in which order, how a reader waits for it, and what happens when nobody takes it.
import t from 'tap'
import { TAP_MESSAGES, Tap } from '../lib/jetstream/mirror-tap'

const m = (seq: number): { seq: number } => ({ seq })

t.test('hands over what was pushed, in order, at most `max` at a time', async t => {
  const tap = new Tap<{ seq: number }>(10, () => {})
  for (let s = 11; s <= 15; s++) tap.push(m(s))
  t.same(await tap.take(3, 1000), [m(11), m(12), m(13)])
  t.same(await tap.take(3, 1000), [m(14), m(15)])
  t.equal(tap.from, 10, 'from stays where the tap started')
})

t.test('a reader waits for the next message, and no longer than it said', async t => {
  const tap = new Tap<{ seq: number }>(0, () => {})
  const t0 = Date.now()
  const waiting = tap.take(16, 5000)
  setTimeout(() => tap.push(m(1)), 50)
  t.same(await waiting, [m(1)])
  t.ok(Date.now() - t0 < 2000, 'woken by the push, not by the timeout')
  const t1 = Date.now()
  t.same(await tap.take(16, 100), [], 'nothing came')
  t.ok(Date.now() - t1 >= 90, 'after the wait it asked for')
})

t.test('a tap nobody takes from lets its messages go and moves `from` past them', async t => {
  const tap = new Tap<{ seq: number }>(0, () => {})
  for (let s = 1; s <= TAP_MESSAGES; s++) tap.push(m(s))
  tap.push(m(TAP_MESSAGES + 1))
  t.equal(tap.from, TAP_MESSAGES + 1, 'a reader behind it reads the stream up to here')
  t.same(await tap.take(16, 10), [], 'nothing is held')
  tap.push(m(TAP_MESSAGES + 2))
  t.same(await tap.take(16, 10), [m(TAP_MESSAGES + 2)], 'what comes after is held again')
})

