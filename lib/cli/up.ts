// `logfs up`: the whole pipeline on one machine for a demo — an embedded server, a mount and a sample writer
// in a child process — with a live summary, and a check at the end that every written byte arrived.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Agent } from '../agent/agent'
import { formatBytes, parseDuration } from '../util/units'
import { log } from '../util/log'
import { agentOptionsFrom, type AgentFlags, type StoreFlags } from './options'
import { startServer, stopServer } from './server'
import { emit, onStopSignal } from '../util/process'
import { fail } from './run'

export interface UpFlags extends AgentFlags, StoreFlags {
  dataDir?: string
  mount?: string
  listen: string
  rate: string
  duration?: string
  json?: boolean
}

export async function upCommand (f: UpFlags): Promise<void> {
  const token = f.token ?? process.env.LOGFS_TOKEN ?? randomBytes(16).toString('hex')
  const dataDir = f.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'logfs-data-'))
  const mnt = f.mount ?? fs.mkdtempSync(path.join(os.tmpdir(), 'logfs-mnt-'))
  const durationMs = f.duration ? parseDuration(f.duration, '--duration') : 0
  const server = await startServer({ ...f, token, dataDir, listen: f.listen })
  const agent = new Agent(agentOptionsFrom(mnt, `ws://${server.host}:${server.port}`, { ...f, token }))
  // The writer is started before the mount exists: a child forked after it would inherit the /dev/fuse
  // descriptor (libfuse opens it without close-on-exec) and keep a dead mount's requests waiting forever.
  // Its own process group, so a Ctrl-C reaches only us and we stop it in order.
  const writer = spawn(process.execPath, [path.join(__dirname, '../demo/writer.js'), mnt, f.rate],
    { stdio: ['pipe', 'pipe', 'inherit'], detached: true })
  const writerExited = new Promise<void>(resolve => writer.once('exit', () => resolve()))
  let written = ''
  writer.stdout.on('data', (c: Buffer) => { written += c.toString() })
  try {
    await agent.start()
  } catch (err) {
    writer.kill('SIGKILL')
    await stopServer(server)
    throw err
  }
  writer.stdin.write('go\n')
  process.stderr.write(`logfs up: server ${server.host}:${server.port} (store ${dataDir}), mount ${mnt}\n` +
    `  read it:  LOGFS_TOKEN=${token} logfs sources --server http://${server.host}:${server.port}\n` +
    `  or open:  http://${server.host}:${server.port}/#token=${token}\n` +
    `  stop:     Ctrl-C${durationMs ? ` (or wait ${f.duration})` : ''}\n`)
  const started = Date.now()
  const ticker = setInterval(() => {
    const r = agent.report()
    const line = {
      seconds: Math.round((Date.now() - started) / 1000),
      storedBytes: server.server.stats.storedBytes,
      batches: r.ship.batches,
      pendingBytes: r.pendingBytes,
      rssBytes: r.rssBytes,
      connected: r.ship.connected,
    }
    if (f.json) emit('progress', line)
    else {
      process.stderr.write(`  ${line.seconds}s: stored ${formatBytes(line.storedBytes)} in ${line.batches} batches, `
        + `${formatBytes(line.pendingBytes)} in flight, agent RSS ${formatBytes(line.rssBytes)}\n`)
    }
  }, 2000)
  const stop = async (why: string): Promise<void> => {
    clearInterval(ticker)
    log('info', 'up', `${why}: stopping the writer, draining, unmounting`)
    writer.kill('SIGTERM')
    const killer = setTimeout(() => writer.kill('SIGKILL'), 5000)
    await writerExited
    clearTimeout(killer)
    const ok = await agent.stop()
    const { lines = 0, bytes = 0 } = written ? JSON.parse(written) as { lines: number, bytes: number } : {}
    const stored = server.server.stats.storedBytes
    await stopServer(server)
    const complete = ok && stored === bytes
    const summary = { lines, writtenBytes: bytes, storedBytes: stored, complete, dataDir, mount: mnt }
    if (f.json) emit('summary', summary)
    else {
      process.stderr.write(`logfs up: the writer wrote ${lines} lines (${bytes} bytes); `
        + `the server stored ${stored} bytes: ${complete ? 'nothing lost' : 'MISMATCH'}\n`)
    }
    fs.rmSync(mnt, { recursive: true, force: true })
    process.exit(summary.complete ? 0 : 1)
  }
  onStopSignal(stop, fail)
  if (durationMs) setTimeout(() => { stop('duration reached').catch(fail) }, durationMs)
}
