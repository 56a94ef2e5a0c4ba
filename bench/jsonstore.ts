// A store of JSON lines filled through a real mount, shared by bench:query and bench:logql: a server and an agent,
// three writer processes (bench/jsonwriter.ts) writing `total` bytes in all, and a wait until the server has every
// byte. The agent is stopped when the store is full; the server keeps running. The server is an embedded store in
// the scratch directory, or a gateway when `storeArgs` (`--store nats://...` and its options) are given.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { storeFiles } from '../lib/store/disk/layout'
import { get, scratch, start, until, type Started } from './harness'
import { NEEDLE_EVERY } from './jsonwriter'

/** The files the writers append to: tenants shop (two sources) and bank (one). */
export const FILES = ['shop/api/app.log', 'shop/worker/app.log', 'bank/db/app.log']

/** What a jsonwriter.js process reports when it is done. */
interface Written { bytes: number, lines: number }

export interface JsonStore {
  tmp: string
  dataDir: string
  server: Started
  port: number
  /** Bytes written in all, and the lines each writer wrote (the fewest of the three). */
  written: number
  lines: number
  /** When the writers started, ms since the epoch, and how long until the server had every byte. */
  t0: number
  ingestSeconds: number
}

export async function fillJsonStore (total: number, storeArgs?: string[]): Promise<JsonStore> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'logfs-qbench-'))
  // A run that fails leaves no store behind (harness cleanUp).
  scratch.add(tmp)
  const mnt = path.join(tmp, 'mnt')
  const dataDir = path.join(tmp, 'data')
  fs.mkdirSync(mnt)
  const server = start(['server', '--json', '--listen', '127.0.0.1:0',
    ...(storeArgs ?? ['--data-dir', dataDir, '--retention-size', '100GiB'])])
  const port = (await until(() => server.events.find(e => e.event === 'listening'), 'server')).port as number
  const agent = start([
    'mount', mnt, '--server', `ws://127.0.0.1:${port}`, '--json', '--node', 'bench', '--state-dir', tmp,
    '--ring-size', '64MiB',
  ])
  await until(() => agent.events.find(e => e.event === 'mounted'), 'mount')
  for (const f of FILES) fs.mkdirSync(path.dirname(path.join(mnt, f)), { recursive: true })
  process.stderr.write(`bench: writing ${(total / 1e9).toFixed(2)} GB of JSON lines through the mount\n`)
  const t0 = Date.now()
  const perWriter = String(Math.ceil(total / FILES.length))
  const writer = path.join(__dirname, 'jsonwriter.js')
  const outs = await Promise.all(FILES.map((f, k) => new Promise<Written>((resolve, reject) => {
    const w = spawn(process.execPath, [writer, path.join(mnt, f), String(k), perWriter],
      { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    w.stdout.on('data', (c: Buffer) => { out += c.toString() })
    w.once('close', code => code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`writer exited ${code}`)))
  })))
  const written = outs.reduce((n, o) => n + o.bytes, 0)
  const lines = Math.min(...outs.map(o => o.lines))
  let last = 0
  await until(async () => {
    const { sources } = await get(port, '/v1/sources') as { sources: Array<{ bytes: number }> }
    const n = sources.reduce((a, s) => a + s.bytes, 0)
    if (Date.now() - last > 2000) {
      last = Date.now()
      process.stderr.write(`  ${(100 * n / written).toFixed(0)}% stored\n`)
    }
    return n >= written ? n : undefined
  }, 'ingest')
  const ingestSeconds = (Date.now() - t0) / 1000
  agent.proc.kill('SIGTERM')
  await agent.exited
  return { tmp, dataDir, server, port, written, lines, t0, ingestSeconds }
}

/**
 * The rare text the queries look for in a store of `lines` lines per writer: a needle near the middle, with lines
 * before it, so context has something to show; the dot ends it (needle-5 ≠ needle-50).
 */
export function rareNeedle (lines: number): { needle: string, needleLine: number } {
  const needleLine = Math.max(1, Math.floor(Math.floor(lines / 2) / NEEDLE_EVERY)) * NEEDLE_EVERY
  if (needleLine >= lines) throw new Error('--size is too small for the query set; use at least 100MB')
  return { needle: `needle-${needleLine}.`, needleLine }
}

/** A gauge from the server's /metrics. */
export async function gauge (port: number, name: string): Promise<number> {
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1] ?? 0)
}

/** Waits until every sealed segment has its index sidecar (they are written off the ingest thread). */
export async function untilIndexed (store: JsonStore): Promise<void> {
  const files = storeFiles(store.dataDir, '.seg')
  // Each directory of segments (one per tenant) has one open segment, without a sidecar until it seals.
  const sealed = files.length - new Set(files.map(f => path.dirname(f))).size
  await until(async () => await gauge(store.port, 'logfs_store_indexed_segments') >= sealed || undefined, 'index')
}

/** Removes the store's scratch directory, once its server has stopped. */
export function removeJsonStore (store: JsonStore): void {
  fs.rmSync(store.tmp, { recursive: true, force: true })
  scratch.delete(store.tmp)
}
