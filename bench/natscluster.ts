// A JetStream cluster of real nats-server processes on loopback ports, for the tests and the scale-out bench. The
// servers come from Debian's nats-server package (bin/logfs-setup installs it).
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { connect } from '@nats-io/transport-node'
import { jetstreamManager } from '@nats-io/jetstream'

/** The stream `ready` places on every node and deletes; not a logfs stream (those are LOGFS_*). */
const READY_PROBE = 'natscluster-ready'
/** Tries at a cluster's start, each on new ports. */
const PORT_ATTEMPTS = 3

interface Node {
  name: string
  client: number
  route: number
  conf: string
  proc: ChildProcess | null
  log: string
}

/**
 * Ports picked by chance, below Linux's default range for ephemeral ports (32768–60999): a port found free there
 * can be taken by any process's outgoing connection before the server meant for it binds it.
 */
const PORTS_FROM = 20000
const PORTS_TO = 32767

function bindable (port: number): Promise<boolean> {
  return new Promise(resolve => {
    const srv = net.createServer()
    srv.once('error', () => resolve(false))
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)))
  })
}

/** A loopback port nobody listens on right now. */
export async function freePort (): Promise<number> {
  for (;;) {
    const port = PORTS_FROM + Math.floor(Math.random() * (PORTS_TO - PORTS_FROM + 1))
    if (await bindable(port)) return port
  }
}

function listening (port: number): Promise<boolean> {
  return new Promise(resolve => {
    const s = net.connect(port, '127.0.0.1')
    s.once('connect', () => { s.destroy(); resolve(true) })
    s.once('error', () => resolve(false))
  })
}

export class NatsCluster {
  private constructor (readonly dir: string, readonly nodes: Node[]) {}

  /**
   * Starts `size` clustered servers with JetStream (file store under a new temporary directory). `maxFileStore`
   * null leaves nats-server's own limits (75% of the disk's free space for files).
   */
  static async start (size = 3, opts: { maxFileStore?: string | null } = {}): Promise<NatsCluster> {
    for (let attempt = 1; ; attempt++) {
      const cluster = await NatsCluster.configure(size, opts)
      try {
        await Promise.all(cluster.nodes.map((_, i) => cluster.startNode(i)))
        await cluster.ready()
        return cluster
      } catch (err) {
        // The nodes that did start must not outlive the failure (they would hold the caller's process open).
        await cluster.stop()
        // A port found free can be taken by another process before nats-server binds it: new ports, once more.
        if (attempt >= PORT_ATTEMPTS || !/address already in use/.test((err as Error).message)) throw err
      }
    }
  }

  /** A new directory with each node's configuration, on ports free now. */
  private static async configure (size: number, opts: { maxFileStore?: string | null }): Promise<NatsCluster> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'logfs-nats-'))
    const nodes: Node[] = []
    for (let i = 1; i <= size; i++) {
      nodes.push({ name: `n${i}`, client: await freePort(), route: await freePort(), conf: '', proc: null, log: '' })
    }
    const routes = nodes.map(n => `nats-route://127.0.0.1:${n.route}`).join(', ')
    for (const n of nodes) {
      n.conf = path.join(dir, `${n.name}.conf`)
      fs.writeFileSync(n.conf, [
        `server_name: ${n.name}`,
        `listen: 127.0.0.1:${n.client}`,
        `jetstream { store_dir: "${path.join(dir, n.name)}"` + (opts.maxFileStore === null
          ? ' }'
          : `, max_file_store: ${opts.maxFileStore ?? '2G'}, max_memory_store: 64M }`),
        `cluster { name: logfs, listen: 127.0.0.1:${n.route}, routes: [ ${routes} ] }`,
        '',
      ].join('\n'))
    }
    return new NatsCluster(dir, nodes)
  }

  /**
   * Resolves once JetStream can place a stream on every running node: that takes a meta leader, and one that has
   * heard from all its peers (a replicated stream created before then waits, or times out, for them).
   */
  async ready (timeoutMs = 30000): Promise<void> {
    const running = this.nodes.filter(n => n.proc)
    const nc = await connect({ servers: running.map(n => `127.0.0.1:${n.client}`) })
    try {
      const jsm = await jetstreamManager(nc, { checkAPI: false })
      const deadline = Date.now() + timeoutMs
      for (;;) {
        try {
          await jsm.streams.add({ name: READY_PROBE, subjects: [READY_PROBE], num_replicas: running.length })
          await jsm.streams.delete(READY_PROBE)
          return
        } catch (err) {
          if (Date.now() > deadline) throw new Error(`JetStream did not come up: ${(err as Error).message}`)
          await new Promise(resolve => setTimeout(resolve, 200))
        }
      }
    } finally {
      await nc.close()
    }
  }

  /** `nats://` URL list of every node, as `logfs server --store` takes it. */
  get url (): string { return 'nats://' + this.nodes.map(n => `127.0.0.1:${n.client}`).join(',') }

  async startNode (i: number): Promise<void> {
    const n = this.nodes[i]
    if (n.proc) throw new Error(`${n.name} is running`)
    const proc = spawn('nats-server', ['-c', n.conf], { stdio: ['ignore', 'ignore', 'pipe'] })
    proc.stderr?.on('data', (c: Buffer) => { n.log = (n.log + c.toString()).slice(-20000) })
    n.proc = proc
    proc.once('exit', () => { if (n.proc === proc) n.proc = null })
    const deadline = Date.now() + 15000
    while (!(await listening(n.client))) {
      if (n.proc !== proc) throw new Error(`nats-server ${n.name} exited: ${n.log.slice(-2000)}`)
      if (Date.now() > deadline) throw new Error(`nats-server ${n.name} did not listen: ${n.log.slice(-2000)}`)
      await new Promise(resolve => setTimeout(resolve, 50))
    }
  }

  /** SIGKILL: no shutdown, no flush; what the node had not fsynced is its peers' to give back. */
  async killNode (i: number): Promise<void> {
    const proc = this.nodes[i].proc
    if (!proc) return
    const exited = new Promise(resolve => proc.once('exit', resolve))
    proc.kill('SIGKILL')
    await exited
  }

  indexOf (name: string): number {
    const i = this.nodes.findIndex(n => n.name === name)
    if (i < 0) throw new Error(`no node ${name}`)
    return i
  }

  /** Index of the node that leads `stream`'s Raft group now. */
  async leaderOf (stream: string): Promise<number> {
    const live = this.nodes.filter(n => n.proc).map(n => `127.0.0.1:${n.client}`)
    const nc = await connect({ servers: live })
    try {
      const info = await (await jetstreamManager(nc)).streams.info(stream)
      const leader = info.cluster?.leader
      if (!leader) throw new Error(`stream ${stream} has no leader now`)
      return this.indexOf(leader)
    } finally {
      await nc.close()
    }
  }

  async stop (): Promise<void> {
    await Promise.all(this.nodes.map((_, i) => this.killNode(i)))
    fs.rmSync(this.dir, { recursive: true, force: true })
  }
}
