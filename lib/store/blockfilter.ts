// A sealed segment's token filter: one bloom filter per block, stored bit-sliced. Row r holds bit r of every
// block's filter, one bit per block, so asking which blocks may hold a token reads k rows of a few bytes each,
// whatever the number of blocks, instead of one probe per block (BitFunnel's layout; bench:tokenfilter measured
// the sizes that chose the false-positive rate).

/** Per block and token. At 0.1 %, a rare token in 10 GB (40,960 blocks of 256 KiB) leaves ~41 blocks to read. */
export const FALSE_POSITIVE_RATE = 0.001
const MAX_PROBES = 16

export interface FilterShape {
  /** Bits per block filter: the number of rows. */
  rows: number
  /** Probes per token. */
  probes: number
  /** Bytes per row: one bit per block. */
  rowBytes: number
}

/**
 * The shape that keeps 9 blocks in 10 within FALSE_POSITIVE_RATE. Not all of them: every block has as many rows,
 * so one block of unusual text (all unique ids, say) would size them all. A fuller block only has more false
 * positives: a bloom filter never misses a token it holds.
 */
export function shapeFor (tokenCounts: number[]): FilterShape {
  const sorted = [...tokenCounts].sort((a, b) => a - b)
  const n = Math.max(1, sorted[Math.floor(sorted.length * 0.9)] ?? 0)
  const blocks = tokenCounts.length
  const rows = Math.max(64, Math.ceil(-n * Math.log(FALSE_POSITIVE_RATE) / Math.LN2 ** 2))
  const probes = Math.min(MAX_PROBES, Math.max(1, Math.round(rows / n * Math.LN2)))
  return { rows, probes, rowBytes: Math.ceil(blocks / 8) }
}

/** The rows a token sets: double hashing, probe j at (h + j·h2) mod rows with h2 odd. */
export function probeRows (hash: number, shape: FilterShape, each: (row: number) => void): void {
  const h2 = (Math.imul(hash, 0x5bd1e995) | 1) >>> 0
  for (let j = 0; j < shape.probes; j++) each(((hash + Math.imul(j, h2)) >>> 0) % shape.rows)
}

/** The bit-sliced filter of blocks whose token hashes are given (each array: one block's distinct hashes). */
export function buildFilter (blocks: Uint32Array[]): { shape: FilterShape, bits: Uint8Array } {
  const shape = shapeFor(blocks.map(b => b.length))
  const bits = new Uint8Array(shape.rows * shape.rowBytes)
  for (const [b, hashes] of blocks.entries()) {
    const byte = b >> 3
    const bit = 1 << (b & 7)
    for (const h of hashes) probeRows(h, shape, r => { bits[r * shape.rowBytes + byte] |= bit })
  }
  return { shape, bits }
}

/**
 * Which blocks may hold every one of `hashes`: a bitmap of `blocks` bits, from the rows that `row` reads (row r is
 * bytes [r·rowBytes, (r+1)·rowBytes) of the bits).
 */
export function mayHoldAll (hashes: number[], shape: FilterShape, blocks: number,
  row: (r: number) => Uint8Array): Uint8Array {
  const out = new Uint8Array(shape.rowBytes).fill(0xff)
  if (blocks % 8 !== 0) out[shape.rowBytes - 1] = (1 << (blocks % 8)) - 1
  for (const h of hashes) {
    probeRows(h, shape, r => {
      const bits = row(r)
      for (let i = 0; i < out.length; i++) out[i] &= bits[i]
    })
  }
  return out
}

/** Whether a block's sorted distinct hashes hold every one of `hashes` (the open segment's blocks). */
export function holdsAll (sorted: Uint32Array, hashes: number[]): boolean {
  for (const h of hashes) {
    let lo = 0
    let hi = sorted.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (sorted[mid] < h) lo = mid + 1
      else hi = mid
    }
    if (sorted[lo] !== h) return false
  }
  return true
}
