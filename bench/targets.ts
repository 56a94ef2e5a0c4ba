// The five things a benchmark run writes into, each measured the same way: plain local disk, the C FUSE ceiling,
// the logfs mount with a sink that discards, logfs end to end (durable on a real server), and rsyslog tailing
// local files and forwarding them over TCP.
import fs from 'node:fs'
import path from 'node:path'
import { Collector } from './collector'
import { start, until, TOKEN } from './harness'
import { startDiscardSink, startNullFs, startReceiver, startRsyslog } from './peers'

export interface Context { tmp: string, buildDir: string, collector: Collector }

export interface Running {
  /** Where the writers write. */
  dir: string
  /** The process doing the collecting (its CPU time and peak RSS are the agent's cost), if any. */
  agentPid: number | null
  /** Whether lines arrive somewhere to be counted. */
  delivers: boolean
  /** Bytes sent over the network for what was written, if measurable. */
  wireBytes: () => Promise<number | null>
  stop: () => Promise<void>
}

/** Writers are spread over these top-level directories (tenants, for logfs). */
export const TENANTS = ['t0', 't1']

export type TargetName = 'local-disk' | 'c-fuse' | 'logfs-mount' | 'logfs' | 'rsyslog'
export const TARGETS: TargetName[] = ['local-disk', 'c-fuse', 'logfs-mount', 'logfs', 'rsyslog']

interface Agent { mnt: string, pid: number, metricsPort: number, stop: () => Promise<void> }

async function logfsAgent (ctx: Context, server: string): Promise<Agent> {
  const mnt = path.join(ctx.tmp, 'mnt')
  fs.mkdirSync(mnt)
  const agent = start([
    'mount', mnt, '--server', server, '--json', '--node', 'bench', '--no-supervise', '--state-dir', ctx.tmp,
    '--metrics-listen', '127.0.0.1:0',
  ])
  const ev = await until(() => agent.events.find(e => e.event === 'mounted'), 'mount', 30_000)
  return {
    mnt,
    pid: ev.pid as number,
    metricsPort: (ev.metrics as { port: number }).port,
    stop: async () => {
      agent.proc.kill('SIGTERM')
      await agent.exited
    },
  }
}

async function agentMetric (port: number, name: string): Promise<number | null> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text)
  return m ? Number(m[1]) : null
}

/** Feeds every new line of every source on a logfs server to the collector (SSE follow), from now on. */
async function follow (port: number, collector: Collector): Promise<() => void> {
  const ac = new AbortController()
  const res = await fetch(`http://127.0.0.1:${port}/v1/tail?glob=${encodeURIComponent('**')}&follow=1`, { headers: { authorization: `Bearer ${TOKEN}` }, signal: ac.signal })
  const reader = (res.body as ReadableStream<Uint8Array>).getReader()
  const decoder = new TextDecoder()
  void (async () => {
    let buf = ''
    try {
      for (;;) {
        const { value, done } = await reader.read()
        if (done) return
        buf += decoder.decode(value, { stream: true })
        let end
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const event = buf.slice(0, end)
          buf = buf.slice(end + 2)
          if (event.startsWith('event: lines\ndata: ')) {
            const { text } = JSON.parse(event.slice(19)) as { text: string }
            collector.chunk(text + '\n')
          }
        }
      }
    } catch {}
  })()
  return () => ac.abort()
}

export async function setUp (name: TargetName, ctx: Context): Promise<Running> {
  const none = async (): Promise<null> => null
  switch (name) {
    case 'local-disk': {
      const dir = path.join(ctx.tmp, 'disk')
      fs.mkdirSync(dir)
      return { dir, agentPid: null, delivers: false, wireBytes: none, stop: async () => {} }
    }
    case 'c-fuse': {
      const dir = path.join(ctx.tmp, 'mnt')
      fs.mkdirSync(dir)
      const fsproc = await startNullFs(dir, ctx.buildDir)
      return { dir, agentPid: fsproc.proc.pid!, delivers: false, wireBytes: none, stop: fsproc.stop }
    }
    case 'logfs-mount': {
      const sink = await startDiscardSink(ctx.collector)
      const agent = await logfsAgent(ctx, sink.url)
      return {
        dir: agent.mnt,
        agentPid: agent.pid,
        delivers: true,
        wireBytes: async () => sink.wireBytes(),
        stop: async () => { await agent.stop(); await sink.close() },
      }
    }
    case 'logfs': {
      const server = start(['server', '--json', '--data-dir', path.join(ctx.tmp, 'data'), '--listen', '127.0.0.1:0'])
      const listening = await until(() => server.events.find(e => e.event === 'listening'), 'server', 30_000)
      const port = listening.port as number
      const unfollow = await follow(port, ctx.collector)
      const agent = await logfsAgent(ctx, `ws://127.0.0.1:${port}`)
      return {
        dir: agent.mnt,
        agentPid: agent.pid,
        delivers: true,
        wireBytes: () => agentMetric(agent.metricsPort, 'logfs_agent_wire_bytes_total'),
        stop: async () => {
          await agent.stop()
          unfollow()
          server.proc.kill('SIGTERM')
          await server.exited
        },
      }
    }
    case 'rsyslog': {
      const dir = path.join(ctx.tmp, 'disk')
      // imfile watches dir/*/*.log; the tenant directories exist before it starts.
      for (const t of TENANTS) fs.mkdirSync(path.join(dir, t), { recursive: true })
      const receiver = await startReceiver(ctx.collector)
      const rs = await startRsyslog(dir, path.join(ctx.tmp, 'rsyslog'), receiver.port)
      return {
        dir,
        agentPid: rs.proc.pid!,
        delivers: true,
        wireBytes: async () => receiver.bytes(),
        stop: async () => { await rs.stop(); await receiver.close() },
      }
    }
  }
}
