// Test harness: real `logfs server` and `logfs mount` processes, writers in their own processes.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { execFileSync } from 'node:child_process'
import type { Test } from 'tap'
import type { WriterSpec } from '../fixtures/lines'
import { steadyLine } from '../../bench/steadywriter'
import { NatsCluster } from '../../bench/natscluster'

export const ROOT = path.resolve(__dirname, '../../..')
export const LOGFS = path.join(ROOT, 'bin/logfs')
export const TOKEN = 'test-token-0123456789'

export const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

/** The part of tap's Test that the helpers use. */
interface Teardown { teardown: (fn: () => unknown) => void }

export function tempDir (t: Teardown, prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `logfs-test-${prefix}-`))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

export interface Proc {
  proc: ChildProcess
  stdout: string
  stderr: string
  events: Array<Record<string, unknown>>
  exited: Promise<number | null>
}

export function run (args: string[], opts: SpawnOptions = {}): Proc {
  const proc = spawn(process.execPath, [LOGFS, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOGFS_TOKEN: TOKEN }, ...opts,
  })
  const exited = new Promise<number | null>(resolve => proc.once('exit', code => resolve(code)))
  const p: Proc = { proc, stdout: '', stderr: '', events: [], exited }
  proc.stdout?.on('data', (c: Buffer) => {
    p.stdout += c.toString()
    const lines = p.stdout.split('\n')
    p.events = lines.filter(l => l.startsWith('{')).map(l => { try { return JSON.parse(l) } catch { return {} } })
  })
  proc.stderr?.on('data', (c: Buffer) => { p.stderr += c.toString() })
  return p
}

export async function waitFor<T> (
  what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

export async function event (p: Proc, name: string, timeoutMs = 20000): Promise<Record<string, unknown>> {
  const what = `event ${name} (stderr: ${p.stderr.slice(-2000)})`
  return waitFor(what, () => p.events.find(e => e.event === name), timeoutMs)
}

export interface Server extends Proc { port: number, http: string, ws: string, dataDir: string }

export async function startServer (
  t: Teardown, opts: { dataDir?: string, port?: number, args?: string[] } = {},
): Promise<Server> {
  const dataDir = opts.dataDir ?? tempDir(t, 'data')
  const listen = `127.0.0.1:${opts.port ?? 0}`
  const p = run(['server', '--json', '--data-dir', dataDir, '--listen', listen, ...(opts.args ?? [])])
  t.teardown(() => { p.proc.kill('SIGKILL') })
  // A gateway on a cluster listens once it has set up the cluster's buckets, each tried for up to 30 s while the
  // cluster elects their leaders: on a loaded machine that takes longer than a standalone server's start.
  const ev = await event(p, 'listening', opts.args?.includes('--store') === true ? 90_000 : 20_000)
  const port = ev.port as number
  return Object.assign(p, { port, http: `http://127.0.0.1:${port}`, ws: `ws://127.0.0.1:${port}`, dataDir })
}

export interface Agent extends Proc { mnt: string, stop: () => Promise<Record<string, unknown>> }

/** Whether a file system is mounted at `mnt` now. */
export const mounted = (mnt: string): boolean =>
  fs.readFileSync('/proc/mounts', 'utf8').split('\n').some(l => l.split(' ')[1] === mnt)

export function forceUnmount (mnt: string): void {
  try { execFileSync('fusermount', ['-uz', mnt], { stdio: 'ignore' }) } catch {}
}

/**
 * Starts `logfs mount`; unsupervised unless asked, so a test's SIGKILL reaches the agent itself. Node `testnode`
 * unless asked (null: the default node).
 */
export async function startAgent (
  t: Teardown, server: { ws: string } | string, args: string[] = [], mnt?: string,
  opts: { supervised?: boolean, env?: Record<string, string>, node?: string | null } = {},
): Promise<Agent> {
  const dir = mnt ?? tempDir(t, 'mnt')
  const stateDir = tempDir(t, 'state')
  const url = typeof server === 'string' ? server : server.ws
  const p = run([
    'mount', dir, '--server', url, '--json', ...(opts.node === null ? [] : ['--node', opts.node ?? 'testnode']),
    '--state-dir', stateDir,
    ...(opts.supervised ? [] : ['--no-supervise']), ...args,
  ], { env: { ...process.env, LOGFS_TOKEN: TOKEN, ...opts.env } })
  t.teardown(async () => {
    if (p.proc.exitCode === null) {
      p.proc.kill('SIGKILL')
      await p.exited
    }
    // A supervised agent outlives its killed supervisor; end every agent this mount had.
    for (const e of p.events) if (e.event === 'mounted') try { process.kill(e.pid as number, 'SIGKILL') } catch {}
    await sleep(50)
    forceUnmount(dir)
  })
  await event(p, 'mounted')
  const stop = async (): Promise<Record<string, unknown>> => {
    p.proc.kill('SIGTERM')
    await p.exited
    const ev = p.events.find(e => e.event === 'stopped')
    if (!ev) throw new Error(`agent stopped without a report: ${p.stderr.slice(-2000)}`)
    return ev
  }
  return Object.assign(p, { mnt: dir, stop })
}

export interface WriterResult {
  lines: number
  bytes: number
  error: string | null
  outages?: Array<{ error: string, ms: number }>
}

export function writer (
  spec: WriterSpec, opts: { uid?: number, gid?: number } = {},
): { proc: ChildProcess, done: Promise<WriterResult> } {
  return fixture<WriterResult>('writer', spec, opts)
}

/** Runs a fixture program (test/fixtures/NAME.ts) on `spec` in a process of its own; `done` has the JSON it printed. */
export function fixture<R> (
  name: string, spec: unknown, opts: { uid?: number, gid?: number } = {},
): { proc: ChildProcess, done: Promise<R> } {
  const script = path.join(ROOT, `dist/test/fixtures/${name}.js`)
  const proc = spawn(process.execPath, [script, JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'pipe'], ...opts })
  let out = ''
  let err = ''
  proc.stdout?.on('data', (c: Buffer) => { out += c.toString() })
  proc.stderr?.on('data', (c: Buffer) => { err += c.toString() })
  const done = new Promise<R>((resolve, reject) => {
    proc.once('exit', (code) => {
      try { resolve(JSON.parse(out) as R) } catch { reject(new Error(`${name} exited ${code}: ${err}`)) }
    })
  })
  return { proc, done }
}

export async function api<T> (
  server: Server, pathAndQuery: string, token = TOKEN,
): Promise<{ status: number, body: T, headers: Headers }> {
  const res = await fetch(server.http + pathAndQuery, { headers: { authorization: `Bearer ${token}` } })
  const ct = res.headers.get('content-type') ?? ''
  const body = (ct.includes('json') ? await res.json() : Buffer.from(await res.arrayBuffer())) as T
  return { status: res.status, body, headers: res.headers }
}

/** Every stored byte of a source, read page by page. */
export async function readSource (server: Server, source: string): Promise<Buffer> {
  const parts: Buffer[] = []
  let from = ''
  for (;;) {
    const q = `/v1/read?source=${encodeURIComponent(source)}${from ? `&from=${from}` : ''}`
    const res = await api<Buffer>(server, q)
    if (res.status !== 200) throw new Error(`read ${source}: ${res.status} ${JSON.stringify(res.body)}`)
    if (res.body.length === 0) break
    parts.push(res.body)
    from = res.headers.get('logfs-next') ?? ''
    if (!from) break
  }
  return Buffer.concat(parts)
}

/** Every line of a steady writer (bench/steadywriter.ts) exactly once and in order: the lines are numbered. */
export async function checkExactlyOnce (t: Test, server: Server, source: string, writer: number, lines: number):
  Promise<void> {
  const got = (await readSource(server, source)).toString()
  t.equal(got.length, lines * steadyLine(writer, 0).length, `${source}: every byte arrived once`)
  let expected = ''
  for (let n = 0; n < lines; n++) expected += steadyLine(writer, n)
  t.ok(got === expected, `${source}: every line, in order, none twice`)
}

export interface SourceRow { source: string, bytes: number, gapBytes: number, next: string | null }

export async function sources (server: Server): Promise<SourceRow[]> {
  return (await api<{ sources: SourceRow[] }>(server, '/v1/sources')).body.sources
}

/** Waits until the server holds `bytes` bytes of a source. */
export async function arrived (server: Server, source: string, bytes: number, timeoutMs = 30000): Promise<void> {
  await waitFor(`${bytes} bytes of ${source}`,
    async () => (await sources(server)).find(s => s.source === source && s.bytes >= bytes), timeoutMs)
}

export { freePort } from '../../bench/natscluster'

/** A real 3-node JetStream cluster, stopped at teardown. */
export async function natsCluster (t: Teardown): Promise<NatsCluster> {
  const nats = await NatsCluster.start(3)
  t.teardown(() => nats.stop())
  return nats
}

/** A gateway of `nats`: 3 replicas, 256 MiB per tenant stream, and `extra` flags. */
export function startGateway (t: Teardown, nats: NatsCluster, extra: string[] = []): Promise<Server> {
  return startServer(t, { args: ['--store', nats.url, '--replicas', '3', '--retention-size', '256MiB', ...extra] })
}


/** Appends texts to files from a child process, in order. */
export async function append (writes: Array<[string, string]>): Promise<void> {
  const script = path.join(ROOT, 'dist/test/fixtures/append.js')
  const proc = spawn(process.execPath, [script, JSON.stringify(writes)], { stdio: ['ignore', 'ignore', 'pipe'] })
  let err = ''
  proc.stderr?.on('data', (c: Buffer) => { err += c.toString() })
  const code = await new Promise<number | null>(resolve => proc.once('exit', resolve))
  if (code !== 0) throw new Error(`append failed: ${err}`)
}

/** Runs a logfs command to its end. */
export async function cli (
  args: string[], env: Record<string, string> = {},
): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const p = run(args, { env: { ...process.env, LOGFS_TOKEN: TOKEN, ...env } })
  const code = await p.exited
  return { code, stdout: p.stdout, stderr: p.stderr }
}
