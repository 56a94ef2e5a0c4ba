// Token filters against trigram filters for grep pruning (the store's choice, by measurement): `npm run
// bench:tokenfilter` (200 MB) or `-- --size 50MB`. Writes bench/jsonwriter's JSON lines to a temporary file, cuts
// them into blocks and gives each block a bloom filter of its tokens (runs of [A-Za-z0-9_] of 3 bytes or more,
// lowercased) or of its trigrams (every 3-byte window, lowercased), then prints per kind, block size and
// false-positive rate: distinct keys per block, the filters' size as a share of the data and in MB per GB, build
// speed on one JS thread, and how many blocks a search for one rare trace id and for a rare word would still
// have to read.
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { traceId } from './jsonwriter'
import { parseSize } from '../lib/util/units'
import { fail, machineLine } from './harness'

const sizeArg = process.argv.indexOf('--size')
const TOTAL = sizeArg > 0 ? parseSize(process.argv[sizeArg + 1], '--size') : 200e6

const TOKEN_BYTE = new Uint8Array(256)
for (const [from, to] of [[48, 57], [65, 90], [97, 122], [95, 95]]) for (let c = from; c <= to; c++) TOKEN_BYTE[c] = 1

/** FNV-1a over the lowercased bytes. */
function hash (buf: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5
  for (let i = start; i < end; i++) h = Math.imul(h ^ (buf[i] | 0x20), 0x01000193) >>> 0
  return h
}

interface Filter { bits: Uint8Array, m: number, k: number }

/** Double hashing: probe j is (h + j·h2) mod m, with h2 odd. */
function probes (h: number, f: Filter, each: (bit: number) => boolean): boolean {
  const h2 = (Math.imul(h, 0x5bd1e995) | 1) >>> 0
  for (let j = 0; j < f.k; j++) if (!each((h + j * h2) % f.m)) return false
  return true
}

/** What a filter holds: whole tokens, or every 3-byte window (trigrams, which also serve substrings). */
type Kind = 'token' | 'trigram'

/** The keys of `data[start, end)` of a kind: token hashes, or trigrams as 24-bit numbers (lowercased). */
function keys (data: Uint8Array, start: number, end: number, kind: Kind): number[] {
  const out: number[] = []
  if (kind === 'trigram') {
    for (let i = start; i + 3 <= end; i++) {
      out.push(((data[i] | 0x20) << 16 | (data[i + 1] | 0x20) << 8 | (data[i + 2] | 0x20)) + 1)
    }
    return out
  }
  for (let i = start; i < end;) {
    while (i < end && !TOKEN_BYTE[data[i]]) i++
    const s = i
    while (i < end && TOKEN_BYTE[data[i]]) i++
    if (i - s >= 3) out.push(hash(data, s, i))
  }
  return out
}

function build (data: Buffer, start: number, end: number, fpr: number, kind: Kind):
{ filter: Filter, distinct: number } {
  const distinct = new Set<number>(keys(data, start, end, kind))
  const n = Math.max(1, distinct.size)
  const m = Math.max(64, Math.ceil(-n * Math.log(fpr) / Math.LN2 ** 2))
  const filter = { bits: new Uint8Array(Math.ceil(m / 8)), m, k: Math.max(1, Math.round(m / n * Math.LN2)) }
  for (const h of distinct) probes(mix(h), filter, b => { filter.bits[b >> 3] |= 1 << (b & 7); return true })
  return { filter, distinct: distinct.size }
}

/** Spreads a key over 32 bits (trigrams are small numbers). */
const mix = (h: number): number => Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0

/** Filters that may hold every key of `text`. */
function maybe (filters: Filter[], text: string, kind: Kind): number {
  const b = Buffer.from(text)
  const all = keys(b, 0, b.length, kind).map(mix)
  return filters.filter(f => all.every(h => probes(h, f, bit => (f.bits[bit >> 3] & (1 << (bit & 7))) !== 0))).length
}

function main (): void {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'logfs-tokens-'))
  const file = path.join(tmp, 'lines.log')
  execFileSync(process.execPath, [path.join(__dirname, 'jsonwriter.js'), file, '0', String(TOTAL)])
  const data = fs.readFileSync(file)
  fs.rmSync(tmp, { recursive: true, force: true })
  // A trace id written once, far from the start, and a word that one line in 50,000 carries.
  const rareId = traceId(Math.floor(data.length / 400))
  const rows: string[] = []
  for (const kind of ['token', 'trigram'] as const) {
    for (const blockBytes of [64 * 1024, 256 * 1024, 1024 * 1024]) {
      for (const fpr of [0.01, 0.001]) {
        const t0 = process.hrtime.bigint()
        const filters: Filter[] = []
        let distinct = 0
        for (let at = 0; at < data.length; at += blockBytes) {
          const b = build(data, at, Math.min(data.length, at + blockBytes), fpr, kind)
          filters.push(b.filter)
          distinct += b.distinct
        }
        const seconds = Number(process.hrtime.bigint() - t0) / 1e9
        const bytes = filters.reduce((n, f) => n + f.bits.length, 0)
        const perBlock = Math.round(distinct / filters.length)
        rows.push(`| ${kind} | ${blockBytes / 1024} KiB | ${fpr * 100} % | ${perBlock} | ` +
          `${(100 * bytes / data.length).toFixed(2)} % (${(bytes / data.length * 1e3).toFixed(0)} MB per GB) | ` +
          `${(data.length / 1e6 / seconds).toFixed(0)} MB/s | ` +
          `${maybe(filters, rareId, kind)} of ${filters.length} | ` +
          `${maybe(filters, 'needle', kind)} of ${filters.length} |`)
      }
    }
  }
  process.stdout.write(`bloom filters per block over ${(data.length / 1e6).toFixed(0)} MB of JSON lines\n` +
    `${machineLine()}\n\n| keys | block | false positives | distinct keys per block | filters | build | ` +
    `blocks to read for one trace id | for "needle" |\n|---|---|---|---|---|---|---|---|\n${rows.join('\n')}\n`)
}

try { main() } catch (err) { fail(err) }
