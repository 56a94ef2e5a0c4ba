// The native block tokenizer (lib/store/tokenizer/tokens.c) against a plain reading of its rules in TypeScript, over
// random blocks: tokens cut at every alignment (its long-token loop takes 16 bytes at a time), bytes either side of
// the word ranges ('@', '[', '`', '{', '/', ':', 0x80 and up), level words, newlines, and pieces whose tokens start
// in [skip, end) and run on to limit.
import t from 'tap'
import { forEachToken } from '../lib/store/tokens'
import { tokenizer } from '../lib/store/tokenizer'
import { LEVEL_HASHES, LEVEL_OF, LEVELS, SUMMARY } from '../lib/store/levels'

/** A seeded generator (mulberry32): a failure names its seed and can be replayed. */
function random (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = Math.imul(a ^ (a >>> 15), a | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

const EDGES = Buffer.from('@[`{/:_09azAZ \t\n')
const WORDS = ['info', 'ERROR', 'Warn', 'warning', 'debug', 'trace', 'fatal', 'request_id', 'x9', 'ab']

function block (rnd: () => number, size: number): Buffer {
  const parts: Buffer[] = []
  let n = 0
  const pick = (k: number): number => Math.floor(rnd() * k)
  while (n < size) {
    const r = rnd()
    let part: Buffer
    if (r < 0.3) part = Buffer.from(WORDS[pick(WORDS.length)])
    else if (r < 0.45) part = Buffer.from([EDGES[pick(EDGES.length)]])
    else if (r < 0.55) part = Buffer.from([0x80 + pick(128)])
    else if (r < 0.65) part = Buffer.alloc(1 + pick(300), 'qZ_7'[pick(4)])
    else if (r < 0.75) part = Buffer.from('\n')
    else part = Buffer.from(Array.from({ length: 1 + pick(12) }, () => 32 + pick(95)))
    parts.push(part)
    n += part.length
  }
  return Buffer.concat(parts).subarray(0, size)
}

/** Pieces cutting [0, size) at random points, each with a skip inside it and a limit at or past its end. */
function piecesOf (rnd: () => number, size: number): Int32Array {
  const cuts = [0, ...Array.from({ length: 1 + Math.floor(rnd() * 6) }, () => Math.floor(rnd() * size)), size]
    .sort((a, b) => a - b)
  const out: number[] = []
  for (let i = 0; i + 1 < cuts.length; i++) {
    const [start, end] = [cuts[i], cuts[i + 1]]
    const skip = start + Math.floor(rnd() * Math.min(8, end - start + 1))
    const limit = rnd() < 0.5 ? end : end + Math.floor(rnd() * (size - end + 1))
    out.push(start, skip, end, limit)
  }
  return Int32Array.from(out)
}

/** What tokens.h says, read plainly: every piece's tokens and its SUMMARY numbers. */
function reference (data: Buffer, pieces: Int32Array): { hashes: number[], stats: number[] } {
  const hashes = new Set<number>()
  const stats: number[] = []
  for (let p = 0; p < pieces.length; p += 4) {
    const [start, skip, end, limit] = pieces.subarray(p, p + 4)
    const counts = new Array<number>(SUMMARY).fill(0)
    for (let i = start; i < end; i++) if (data[i] === 0x0a) counts[0]++
    let levelSeen = false
    let after = skip
    forEachToken(data, skip, limit, (s, e, h) => {
      if (s >= end) return
      if (data.subarray(after, s).includes(0x0a)) levelSeen = false
      after = e
      hashes.add(h)
      const l = LEVEL_HASHES.indexOf(h)
      if (!levelSeen && l >= 0) {
        counts[1 + LEVEL_OF[l]]++
        levelSeen = true
      }
    })
    stats.push(...counts)
  }
  return { hashes: [...hashes].sort((a, b) => a - b), stats }
}

t.test('the native tokenizer gives the tokens, newlines and level lines its rules say, over random blocks', t => {
  const { blockTokens } = tokenizer()
  let levels = 0
  for (let seed = 1; seed <= 300; seed++) {
    const rnd = random(seed)
    const data = block(rnd, 1 + Math.floor(rnd() * 4000))
    const pieces = piecesOf(rnd, data.length)
    const want = reference(data, pieces)
    const got = blockTokens(data, pieces, LEVEL_HASHES, LEVEL_OF)
    levels += want.stats.filter((_n, i) => i % SUMMARY !== 0).reduce((a, b) => a + b, 0)
    if (!t.same([...got.hashes], want.hashes, `seed ${seed}: the hashes`)) break
    if (!t.same([...got.stats], want.stats, `seed ${seed}: the newlines and lines per level`)) break
  }
  t.ok(levels > 500, `${levels} lines counted under a level (of ${LEVELS.length})`)
  t.end()
})

t.test('a block that is one long token: hashed by its first bytes, passed over to the end', t => {
  const { blockTokens } = tokenizer()
  for (const length of [63, 64, 65, 79, 80, 81, 256 * 1024]) {
    for (const tail of ['', '\n', ' x', 'é']) {
      const data = Buffer.concat([Buffer.alloc(length, 'x'), Buffer.from(tail)])
      const pieces = Int32Array.of(0, 0, data.length, data.length)
      const got = blockTokens(data, pieces, LEVEL_HASHES, LEVEL_OF)
      t.same({ hashes: [...got.hashes], stats: [...got.stats] }, reference(data, pieces), `${length} bytes, '${tail}'`)
    }
  }
  t.end()
})
