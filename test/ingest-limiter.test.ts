// The token bucket of each tenant, on a clock the test moves: the burst, the rate after it, a batch larger than
// the bucket, a reload that re-rates a bucket, the share of one gateway of several, and the counts it keeps.
import t from 'tap'
import { IngestLimiter } from '../lib/server/ingest-limiter'
import { LimitsInForce, builtinLimits, type Limits, type TenantLimits } from '../lib/server/limits'

const MiB = 1024 * 1024
const builtin = builtinLimits({ size: 1024 * MiB, ageMs: 86_400_000 })
const limits = (tenants: Record<string, Partial<TenantLimits>>, dflt: Partial<TenantLimits> = {}): Limits => ({
  default: { ...builtin, ...dflt },
  tenants: new Map(Object.entries(tenants).map(([name, l]) => [name, { ...builtin, ...dflt, ...l }])),
})

interface Setup { limiter: IngestLimiter, inForce: LimitsInForce, advance: (ms: number) => void }

function setup (l: Limits, gateways = 1): Setup {
  let now = 0
  const inForce = new LimitsInForce(l)
  return { limiter: new IngestLimiter(inForce, gateways, () => now), inForce, advance: ms => { now += ms } }
}

t.test('the burst, then the rate; the wait is the time the bucket needs', async t => {
  const { limiter, advance } = setup(limits({ shop: { ingest: MiB, burst: 2 * MiB } }))
  t.equal(limiter.admit('shop', MiB), 0)
  t.equal(limiter.admit('shop', MiB), 0, 'the burst goes at once')
  t.equal(limiter.admit('shop', MiB / 2), 500, 'half a MiB more: 500 ms at 1 MiB/s')
  advance(250)
  t.equal(limiter.admit('shop', MiB / 2), 250, 'a throttled batch took nothing: the wait shrinks with time')
  advance(250)
  t.equal(limiter.admit('shop', MiB / 2), 0)
  t.equal(limiter.admit('other', 100 * MiB), 0, 'a tenant without a rate is never throttled')
  t.same([...limiter.throttled], [['shop', 2]])
  t.same([...limiter.admitted], [['shop', 2.5 * MiB], ['other', 100 * MiB]])
  advance(1)
  t.equal(limiter.admit('shop', 2048), 10, 'a wait of 1 ms: never asks for less than 10 ms')
})

t.test('a batch larger than the bucket goes when it is full and leaves it in debt', async t => {
  const { limiter, advance } = setup(limits({ shop: { ingest: MiB, burst: MiB } }))
  t.equal(limiter.admit('shop', 3 * MiB), 0, 'a full bucket lets a larger batch through')
  t.equal(limiter.admit('shop', 3 * MiB), 3000, 'then the debt is paid before the bucket is full again')
  advance(3000)
  t.equal(limiter.admit('shop', 3 * MiB), 0, 'so such batches still average out at the rate')
})

t.test('a reload re-rates the bucket, keeping what it earned; no rate removes it', async t => {
  const { limiter, inForce, advance } = setup(limits({ shop: { ingest: MiB, burst: MiB } }))
  t.equal(limiter.admit('shop', MiB), 0)
  advance(500)
  inForce.replace(limits({ shop: { ingest: 4 * MiB, burst: 8 * MiB } }))
  t.equal(limiter.admit('shop', MiB), 125, 'half a MiB earned at the old rate, the rest at 4 MiB/s')
  inForce.replace(limits({}))
  t.equal(limiter.admit('shop', 100 * MiB), 0, 'no rate any more')
  inForce.replace(limits({}, { ingest: MiB, burst: Infinity }))
  t.equal(limiter.admit('shop', MiB), 0, 'a rate without a burst: one second of it')
  t.equal(limiter.admit('shop', MiB), 1000)
})

t.test('one gateway of several fills at its share of the rate, with the whole burst', async t => {
  const { limiter, advance } = setup(limits({ shop: { ingest: MiB, burst: MiB } }), 2)
  t.equal(limiter.rateOf('shop'), MiB / 2)
  t.equal(limiter.admit('shop', MiB), 0, 'the whole burst')
  t.equal(limiter.admit('shop', MiB / 2), 1000, 'half a MiB at half a MiB/s')
  advance(1000)
  t.equal(limiter.admit('shop', MiB / 2), 0)
})

t.test('seconds throttled: the waits joined, counted once however many senders wait', async t => {
  const { limiter, advance } = setup(limits({ shop: { ingest: MiB, burst: MiB } }))
  t.equal(limiter.admit('shop', MiB), 0)
  t.equal(limiter.throttledSeconds('shop'), 0)
  t.equal(limiter.admit('shop', MiB), 1000)
  advance(400)
  t.equal(limiter.throttledSeconds('shop'), 0.4, 'a wait still running counts up to now')
  t.equal(limiter.admit('shop', MiB), 600, 'a second sender, throttled meanwhile')
  advance(600)
  t.equal(limiter.throttledSeconds('shop'), 1, 'the overlapping waits count once')
  t.equal(limiter.admit('shop', MiB), 0)
  advance(500)
  t.equal(limiter.admit('shop', MiB), 500, 'half a MiB earned of the next')
  advance(2000)
  t.equal(limiter.throttledSeconds('shop'), 1.5, 'and a later wait adds its own length')
  t.equal(limiter.throttledSeconds('other'), 0)
})
