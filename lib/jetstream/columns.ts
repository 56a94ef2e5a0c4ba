// A source's extents as columns of deltas: the coding index snapshots (snapshot.ts) and index pages (page.ts)
// share. Runs of a source go on from one another, so most deltas are 0 or small and the columns pack and deflate
// to a few bytes per extent. Decoding checks every value: a corrupt column is an error, never a wrong index.
import type { MessageExtent } from './payloads'
import type { SourceIndex } from '../store/source'

/** A source's extents in cursor order, one column per field. */
export interface Columns {
  gen: number[]
  offset: number[]
  length: number[]
  timestamp: number[]
  seq: number[]
}

/** The columns of `x`'s extents, in their order. */
export function columnsOf (x: readonly MessageExtent[]): Columns {
  return {
    gen: x.map(e => e.gen),
    offset: x.map(e => e.offset),
    length: x.map(e => e.length),
    timestamp: x.map(e => e.timestamp),
    seq: x.map(e => e.seq),
  }
}

/** The extents of columns `c`, of `stream`, in source `src`. */
export function extentsOf (c: Columns, stream: string, src: SourceIndex<MessageExtent>): MessageExtent[] {
  const out = new Array<MessageExtent>(c.gen.length)
  for (let i = 0; i < c.gen.length; i++) {
    out[i] = {
      gen: c.gen[i], offset: c.offset[i], length: c.length[i], timestamp: c.timestamp[i], stream, seq: c.seq[i], src,
    }
  }
  return out
}

/** Differences from the previous value; an offset counts from where the previous extent of its generation ended. */
export function deltas (c: Columns): Columns {
  const d: Columns = { gen: [], offset: [], length: c.length, timestamp: [], seq: [] }
  for (let i = 0; i < c.gen.length; i++) {
    const same = i > 0 && c.gen[i] === c.gen[i - 1]
    d.gen.push(i > 0 ? c.gen[i] - c.gen[i - 1] : c.gen[i])
    d.offset.push(same ? c.offset[i] - c.offset[i - 1] - c.length[i - 1] : c.offset[i])
    d.timestamp.push(i > 0 ? c.timestamp[i] - c.timestamp[i - 1] : c.timestamp[i])
    d.seq.push(i > 0 ? c.seq[i] - c.seq[i - 1] : c.seq[i])
  }
  return d
}

export const isCount = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0
const isInt = (x: unknown): x is number => Number.isSafeInteger(x)

/** What a decoder throws for bytes that do not hold together. */
export class CorruptColumns extends Error {
  override name = 'CorruptColumns'
}

export function check (ok: boolean, what: string): void {
  if (!ok) throw new CorruptColumns(what)
}

/** The columns back from their deltas, each value checked. */
export function undo (d: Columns, source: string): Columns {
  const n = d.gen.length
  for (const k of ['offset', 'length', 'timestamp', 'seq'] as const) {
    check(Array.isArray(d[k]) && d[k].length === n, `${source}: ${k} has ${d[k]?.length} values, not ${n}`)
  }
  const c: Columns = {
    gen: new Array(n), offset: new Array(n), length: d.length, timestamp: new Array(n), seq: new Array(n),
  }
  for (let i = 0; i < n; i++) {
    check(isInt(d.gen[i]) && isInt(d.offset[i]) && isCount(d.length[i]) && isInt(d.timestamp[i]) && isInt(d.seq[i]),
      `${source}: extent ${i} is not whole numbers`)
    const same = i > 0 && d.gen[i] === 0
    c.gen[i] = i > 0 ? c.gen[i - 1] + d.gen[i] : d.gen[i]
    c.offset[i] = same ? c.offset[i - 1] + c.length[i - 1] + d.offset[i] : d.offset[i]
    c.timestamp[i] = i > 0 ? c.timestamp[i - 1] + d.timestamp[i] : d.timestamp[i]
    c.seq[i] = i > 0 ? c.seq[i - 1] + d.seq[i] : d.seq[i]
    check(isCount(c.gen[i]) && isCount(c.offset[i]) && isCount(c.timestamp[i]) && c.seq[i] > 0,
      `${source}: extent ${i} has a negative place`)
  }
  return c
}

