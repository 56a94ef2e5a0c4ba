// The things a benchmark run writes into, each measured the same way: plain local disk, the C FUSE ceiling, the
// logfs mount with a sink that discards, logfs end to end (durable on a real server) with the kernel's
// write-through or writeback cache, and rsyslog tailing local files and forwarding them over TCP.
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { Collector } from './collector'
import { ROOT, start, until, type Started } from './harness'
import { startDiscardSink, startNullFs, startReceiver, startRsyslog } from './peers'
import { follow } from './follow'
import { agentMetric, ringInUse } from './agentmetrics'
import type { AgentProcs } from './usage'

export interface Context { tmp: string, buildDir: string, collector: Collector }

export interface Running {
  /** Where the writers write. */
  dir: string
  /** The processes doing the collecting (their CPU time and memory are the agent's cost), if any. */
  procs: AgentProcs | null
  /** Whether lines arrive somewhere to be counted. */
  delivers: boolean
  /** Bytes sent over the network for what was written, if measurable. */
  wireBytes: () => Promise<number | null>
  /** Ring bytes in use now, for an agent that reports them. */
  ring: (() => Promise<number | null>) | null
  /** What went wrong that the line counts would not show, e.g. an agent its supervisor had to restart. */
  problems: () => string[]
  stop: () => Promise<void>
}

/** Writers are spread over these top-level directories (tenants, for logfs). */
export const TENANTS = ['t0', 't1']

/**
 * `npm run bench -- --against DIR`: the end-to-end logfs targets once more, server and agent run from the build in
 * DIR (a worktree of main, built), as `logfs@base` and `logfs-writeback@base`: old and new side by side in one run.
 */
const againstAt = process.argv.indexOf('--against')
const AGAINST = againstAt > 0 ? path.resolve(process.argv[againstAt + 1]) : null

export type TargetName = 'local-disk' | 'c-fuse' | 'logfs-mount' | 'logfs' | 'logfs-writeback' | 'rsyslog' |
  'logfs@base' | 'logfs-writeback@base'
/** The targets of --against. */
export const BASE_TARGETS: TargetName[] = AGAINST ? ['logfs@base', 'logfs-writeback@base'] : []
export const TARGETS: TargetName[] = ['local-disk', 'c-fuse', 'logfs-mount', 'logfs', 'logfs-writeback', 'rsyslog',
  ...BASE_TARGETS]

/** `npm run bench -- --flush-interval 5ms`: the writeback target's flush interval, when not the default. */
const flushAt = process.argv.indexOf('--flush-interval')
const FLUSH = flushAt > 0 ? ['--flush-interval', process.argv[flushAt + 1]] : []

/** Given explicitly, so ring bytes can be told from the agent's fill ratio whatever the default becomes. */
const RING_SIZE = 16 * 1024 * 1024

let mountHelp: string | null = null

/** Why a target cannot run with the logfs that is built, or null when it can. */
export function unavailable (name: TargetName): string | null {
  if (BASE_TARGETS.includes(name) && !fs.existsSync(path.join(AGAINST!, 'dist/lib/cli/main.js'))) {
    return `${AGAINST} has no build (dist/)`
  }
  if (name !== 'logfs-writeback') return null
  mountHelp ??= execFileSync(process.execPath, [path.join(ROOT, 'bin/logfs'), 'mount', '--help'], { encoding: 'utf8' })
  return /--cache\b/.test(mountHelp) ? null : '`logfs mount --help` lists no --cache'
}

interface Agent { mnt: string, procs: AgentProcs, metricsPort: number | null, started: Started }

/**
 * `logfs mount` as it runs in production, under its supervisor: the supervisor's memory is part of what an agent
 * costs, and a restart (a crashed agent) is reported instead of passing unseen.
 */
async function logfsAgent (ctx: Context, server: string, extra: string[], bin?: string): Promise<Agent> {
  const mnt = path.join(ctx.tmp, 'mnt')
  fs.mkdirSync(mnt)
  const started = start([
    'mount', mnt, '--server', server, '--json', '--node', 'bench', '--state-dir', ctx.tmp,
    '--metrics-listen', '127.0.0.1:0', '--ring-size', String(RING_SIZE), ...extra,
  ], [], bin)
  const ev = await until(() => {
    const code = started.proc.exitCode
    if (code !== null) throw new Error(`logfs mount ${extra.join(' ')} exited ${code} before it mounted`)
    return started.events.find(e => e.event === 'mounted')
  }, 'mount', 30_000)
  const supervisor = started.proc.pid!
  const agent = ev.pid as number
  const names = new Map([[supervisor, 'supervisor'], [agent, 'agent']])
  const metrics = ev.metrics as { port: number } | null | undefined
  return { mnt, procs: { root: supervisor, names }, metricsPort: metrics?.port ?? null, started }
}

async function stopAgent (a: Agent): Promise<void> {
  a.started.proc.kill('SIGTERM')
  await a.started.exited
}

const restarts = (a: Agent): string[] => a.started.events.filter(e => e.event === 'restarting')
  .map(e => `agent restarted by its supervisor (${String(e.reason)})`)

/** A server and an agent, both of this build, or of the build at `bin` (--against). */
async function logfsEndToEnd (ctx: Context, extra: string[], bin?: string): Promise<Running> {
  const server = start(['server', '--json', '--data-dir', path.join(ctx.tmp, 'data'), '--listen', '127.0.0.1:0'], [],
    bin)
  const listening = await until(() => server.events.find(e => e.event === 'listening'), 'server', 30_000)
  const port = listening.port as number
  const unfollow = await follow(port, ctx.collector)
  const agent = await logfsAgent(ctx, `ws://127.0.0.1:${port}`, extra, bin)
  const metricsPort = agent.metricsPort
  return {
    dir: agent.mnt,
    procs: agent.procs,
    delivers: true,
    wireBytes: async () => metricsPort === null ? null : agentMetric(metricsPort, 'logfs_agent_wire_bytes_total'),
    ring: metricsPort === null ? null : () => ringInUse(metricsPort, RING_SIZE),
    problems: () => restarts(agent),
    stop: async () => {
      await stopAgent(agent)
      unfollow()
      server.proc.kill('SIGTERM')
      await server.exited
    },
  }
}

export async function setUp (name: TargetName, ctx: Context): Promise<Running> {
  const none = async (): Promise<null> => null
  const fine = (): string[] => []
  switch (name) {
    case 'local-disk': {
      const dir = path.join(ctx.tmp, 'disk')
      fs.mkdirSync(dir)
      return { dir, procs: null, delivers: false, wireBytes: none, ring: null, problems: fine, stop: async () => {} }
    }
    case 'c-fuse': {
      const dir = path.join(ctx.tmp, 'mnt')
      fs.mkdirSync(dir)
      const fsproc = await startNullFs(dir, ctx.buildDir)
      const pid = fsproc.proc.pid!
      return {
        dir, procs: { root: pid, names: new Map([[pid, 'nullfs']]) }, delivers: false, wireBytes: none, ring: null,
        problems: fine, stop: fsproc.stop,
      }
    }
    case 'logfs-mount': {
      const sink = await startDiscardSink(ctx.collector)
      const agent = await logfsAgent(ctx, sink.url, [])
      const metricsPort = agent.metricsPort
      return {
        dir: agent.mnt,
        procs: agent.procs,
        delivers: true,
        wireBytes: async () => sink.wireBytes(),
        ring: metricsPort === null ? null : () => ringInUse(metricsPort, RING_SIZE),
        problems: () => restarts(agent),
        stop: async () => { await stopAgent(agent); await sink.close() },
      }
    }
    case 'logfs':
      return logfsEndToEnd(ctx, [])
    case 'logfs-writeback':
      return logfsEndToEnd(ctx, ['--cache', 'writeback', ...FLUSH])
    case 'logfs@base':
      return logfsEndToEnd(ctx, [], path.join(AGAINST!, 'bin/logfs'))
    case 'logfs-writeback@base':
      return logfsEndToEnd(ctx, ['--cache', 'writeback', ...FLUSH], path.join(AGAINST!, 'bin/logfs'))
    case 'rsyslog': {
      const dir = path.join(ctx.tmp, 'disk')
      // imfile watches dir/*/*.log; the tenant directories exist before it starts.
      for (const t of TENANTS) fs.mkdirSync(path.join(dir, t), { recursive: true })
      const receiver = await startReceiver(ctx.collector)
      const rs = await startRsyslog(dir, path.join(ctx.tmp, 'rsyslog'), receiver.port)
      const pid = rs.proc.pid!
      return {
        dir,
        procs: { root: pid, names: new Map([[pid, 'rsyslogd']]) },
        delivers: true,
        wireBytes: async () => receiver.bytes(),
        ring: null,
        problems: fine,
        stop: async () => { await rs.stop(); await receiver.close() },
      }
    }
  }
}
