// Writeback cache mode's test kit (the writeback-*.test.ts files): the agent's options for it, lines of odd
// lengths, and a writer process that makes one write() per piece, as applications do.
import fs from 'node:fs'
import path from 'node:path'
import { spawn, type ChildProcess } from 'node:child_process'
import { sources, type startServer, tempDir, type Server } from './cluster'

type T = Parameters<typeof startServer>[0]

export const WB = ['--cache', 'writeback', '--flush-interval', '20ms']
/** A flusher that never runs within a test: only fsync, close, a direct read or the agent's stop move bytes. */
export const WB_IDLE = ['--cache', 'writeback', '--flush-interval', '60s']
export const PAGE = 4096

/**
 * Numbered lines of lengths that divide no page size (page-sized ±1 among them), one write() each: `prefix n `,
 * then letters that shift with n (a misplaced byte shows), then '\n'.
 */
export function oddLines (prefix: string, count: number, seed: number): string[] {
  const special = [4095, 4097, 8191, 8193, 12289, 2047, 2049, 4000, 100, 33]
  let x = seed >>> 0
  const out: string[] = []
  for (let n = 0; n < count; n++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0
    const len = n % 5 === 0 ? special[(n / 5) % special.length] : 20 + (x % 5000)
    out.push(numbered(prefix, n, len))
  }
  return out
}

function numbered (prefix: string, n: number, len: number): string {
  const head = `${prefix} ${String(n).padStart(8, '0')} `
  let body = ''
  for (let i = 0; body.length < len - head.length - 1; i++) body += String.fromCharCode(97 + (n + i) % 26)
  return head + body + '\n'
}

/** Exactly `size` bytes of numbered 1000-byte lines (the last one shorter), for one large write(). */
export function blob (prefix: string, size: number): string {
  const lines: string[] = []
  let left = size
  for (let n = 0; left > 0; n++) {
    const len = left - 1000 >= 100 ? 1000 : left
    lines.push(numbered(prefix, n, len))
    left -= len
  }
  return lines.join('')
}

// The chunk writer: appends slices of a data file to one file (opened O_APPEND), one write() per cut; a cut of
// -1 is `truncate -s 0` of the file by another process while this one keeps its descriptor. With `hold` it keeps
// the file open after the last write until killed. Runs as its own process, as applications do.
const CHUNK_WRITER = `
const fs = require('fs')
const cp = require('child_process')
const spec = JSON.parse(fs.readFileSync(process.argv[1], 'utf8'))
const data = fs.readFileSync(spec.data)
const fd = fs.openSync(spec.file, 'a')
let at = 0
for (const cut of spec.cuts) {
  if (cut < 0) { cp.execFileSync('truncate', ['-s', '0', spec.file]); continue }
  const n = fs.writeSync(fd, data, at, cut)
  if (n !== cut) throw new Error('short write: ' + n + ' of ' + cut)
  at += cut
}
if (!spec.hold) fs.closeSync(fd)
process.stdout.write('written\\n')
if (spec.hold) setInterval(() => {}, 1000)
`

export interface Chunked { proc: ChildProcess, written: Promise<void> }

/** Writes `writes` to `file` in that many write() calls (null: truncate -s 0 there) from a child process. */
export function chunkWriter (t: T, file: string, writes: Array<string | null>, opts: { hold?: boolean } = {}):
  Chunked {
  const dir = tempDir(t, 'chunks')
  const data = path.join(dir, 'data')
  fs.writeFileSync(data, writes.filter(w => w !== null).join(''))
  const cuts = writes.map(w => w === null ? -1 : Buffer.byteLength(w))
  const spec = path.join(dir, 'spec.json')
  fs.writeFileSync(spec, JSON.stringify({ file, data, cuts, hold: opts.hold ?? false }))
  const proc = spawn(process.execPath, ['-e', CHUNK_WRITER, spec], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { if (proc.exitCode === null) proc.kill('SIGKILL') })
  let out = ''
  let err = ''
  proc.stdout?.on('data', (c: Buffer) => { out += c.toString() })
  proc.stderr?.on('data', (c: Buffer) => { err += c.toString() })
  const written = new Promise<void>((resolve, reject) => {
    proc.stdout?.on('data', () => { if (out.includes('written\n')) resolve() })
    proc.once('exit', code => {
      if (out.includes('written\n') && code === 0) resolve()
      else reject(new Error(`chunk writer exited ${code}: ${err}`))
    })
  })
  return { proc, written }
}

export async function bytesOf (server: Server, source: string): Promise<number> {
  return (await sources(server)).find(s => s.source === source)?.bytes ?? 0
}
