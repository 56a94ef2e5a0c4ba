// What the comparison runs besides logfs: the C FUSE ceiling (built here from cfuse/nullfs.c), rsyslog tailing
// files and forwarding over TCP, a TCP receiver for it, and a WebSocket sink that acknowledges logfs batches
// without storing them. Debian packages are installed on first use.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { WebSocketServer } from 'ws'
import { decodeFrame, encodeFrame, asBatch } from '../lib/wire/frames'
import type { Collector } from './collector'
import { children } from './harness'

let aptUpdated = false

function aptInstall (packages: string[], check: () => boolean): void {
  if (check()) return
  process.stderr.write(`bench: installing ${packages.join(' ')} with apt\n`)
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  if (!aptUpdated) execFileSync('apt-get', ['update', '-qq'], { stdio: ['ignore', 'ignore', 'inherit'], env })
  aptUpdated = true
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages],
    { stdio: ['ignore', 'ignore', 'inherit'], env })
}

const has = (cmd: string): boolean => {
  try { execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }); return true } catch { return false }
}

export interface Peer { proc: ChildProcess, stop: () => Promise<void> }

async function waitFor (what: string, fn: () => boolean, ms = 10000): Promise<void> {
  const deadline = Date.now() + ms
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

const mounted = (mnt: string): boolean =>
  fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some(l => l.split(' ')[4] === mnt)

function stopper (proc: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): () => Promise<void> {
  return async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return
    const exited = new Promise(resolve => proc.once('exit', resolve))
    proc.kill(signal)
    await exited
  }
}

/** The C libfuse 2 filesystem that discards writes, built once into `buildDir`. */
export async function startNullFs (mnt: string, buildDir: string): Promise<Peer> {
  const haveBuildTools = (): boolean => has('gcc') && has('pkg-config') && fs.existsSync('/usr/include/fuse/fuse.h')
  aptInstall(['libfuse-dev', 'pkg-config', 'gcc', 'libc6-dev'], haveBuildTools)
  const bin = path.join(buildDir, 'nullfs')
  if (!fs.existsSync(bin)) {
    const flags = execFileSync('pkg-config', ['fuse', '--cflags', '--libs'], { encoding: 'utf8' }).trim().split(/\s+/)
    const source = path.join(__dirname, '../../bench/cfuse/nullfs.c')
    execFileSync('gcc', ['-O2', '-o', bin, source, ...flags], { stdio: 'inherit' })
  }
  const proc = spawn(bin, [mnt, '-f', '-o', 'big_writes,max_write=131072'], { stdio: ['ignore', 'ignore', 'inherit'] })
  children.push(proc)
  await waitFor('nullfs to mount', () => mounted(mnt))
  return { proc, stop: async () => { execFileSync('fusermount', ['-u', mnt]); await stopper(proc)() } }
}

/** A TCP server that feeds every line it receives to the collector and counts bytes. */
export async function startReceiver (
  collector: Collector,
): Promise<{ port: number, bytes: () => number, close: () => Promise<void> }> {
  let bytes = 0
  const sockets = new Set<net.Socket>()
  const server = net.createServer(sock => {
    sockets.add(sock)
    sock.once('close', () => sockets.delete(sock))
    // rsyslog resets its connection when it stops; that ends the stream, it is not the benchmark's failure.
    sock.on('error', () => sock.destroy())
    let rest = ''
    sock.setEncoding('latin1')
    sock.on('data', (chunk: string) => {
      bytes += chunk.length
      rest = collector.chunk(rest + chunk)
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as net.AddressInfo).port,
    bytes: () => bytes,
    close: () => new Promise(resolve => { server.close(() => resolve()); for (const c of sockets) c.destroy() }),
  }
}

/** rsyslog: imfile (inotify) on `dir/<asterisk>/<asterisk>.log`, omfwd over TCP to the receiver, raw lines. */
export async function startRsyslog (dir: string, work: string, port: number): Promise<Peer> {
  aptInstall(['rsyslog'], () => fs.existsSync('/usr/sbin/rsyslogd'))
  fs.mkdirSync(path.join(work, 'spool'), { recursive: true })
  const conf = path.join(work, 'rsyslog.conf')
  fs.writeFileSync(conf, `global(workDirectory="${work}/spool" maxMessageSize="64k")
module(load="imfile" mode="inotify")
input(type="imfile" file="${dir}/*/*.log" tag="bench" freshStartTail="off" reopenOnTruncate="on")
template(name="raw" type="string" string="%rawmsg%\\n")
action(type="omfwd" target="127.0.0.1" port="${port}" protocol="tcp" template="raw"
       queue.type="LinkedList" queue.size="1000000" action.resumeRetryCount="-1")
`)
  execFileSync('/usr/sbin/rsyslogd', ['-N1', '-f', conf], { stdio: 'ignore' })
  const proc = spawn('/usr/sbin/rsyslogd', ['-n', '-f', conf, '-i', path.join(work, 'rsyslogd.pid')],
    { stdio: ['ignore', 'ignore', 'inherit'] })
  children.push(proc)
  await new Promise(resolve => setTimeout(resolve, 300))
  if (proc.exitCode !== null) throw new Error(`rsyslogd exited with ${proc.exitCode}`)
  return { proc, stop: stopper(proc) }
}

/** A logfs server stand-in that acknowledges every batch at once and stores nothing: the cost of the mount alone. */
export async function startDiscardSink (
  collector: Collector,
): Promise<{ url: string, wireBytes: () => number, close: () => Promise<void> }> {
  let wireBytes = 0
  const rest = new Map<string, string>()
  const wss = new WebSocketServer({
    host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 64 * 1024 * 1024,
  })
  wss.on('connection', ws => {
    ws.on('message', (data: Buffer) => {
      wireBytes += data.length
      const batch = asBatch(decodeFrame(data))
      for (const [p, , , bytes] of batch.recs) {
        const text = (rest.get(p) ?? '') + Buffer.from(bytes).toString('latin1')
        rest.set(p, collector.chunk(text))
      }
      ws.send(encodeFrame({ t: 'ack', seq: batch.seq, stored: 0, duplicate: 0 }, false))
    })
  })
  await new Promise<void>(resolve => wss.once('listening', () => resolve()))
  const port = (wss.address() as net.AddressInfo).port
  return {
    url: `ws://127.0.0.1:${port}`,
    wireBytes: () => wireBytes,
    close: () => new Promise(resolve => { for (const c of wss.clients) c.terminate(); wss.close(() => resolve()) }),
  }
}
