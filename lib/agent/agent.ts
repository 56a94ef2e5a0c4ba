// The agent: one mount, its rings and its shipping workers, with an orderly stop that ships what is buffered.
import { Intake, type FullPolicy } from '../ring/intake'
import { EROFS } from '../util/errno'
import { Shipper } from '../ship/shipper'
import { NodeClaim, NodeHeldError } from '../ship/claim'
import { InputError } from '../util/units'
import { LogFs } from '../fs/ops'
import { cleanStale, mount, type CacheMode, type Mount } from '../fs/mount'
import { SkeletonFile, restore } from '../fs/skeleton'
import { EMPTY, settingsFor, watchCollection, type Collection, type TenantSettings } from '../config/collection'
import { log } from '../util/log'
import { Registry } from '../metrics/registry'
import { AgentHttp, registerAgentMetrics } from './http'
import type { AgentReport } from './report'
import { HandoverError, openHandover, protocol, type Handover } from './handover'
import { native } from '../native/fuse/native'

export interface AgentOptions {
  /** Per-tenant settings file (JSON, watched); null for none. */
  configFile: string | null
  mountpoint: string
  /** Ingest URLs: gateways of one store, tried in turn when one cannot be reached. */
  servers: string[]
  token: string
  node: string
  memory: number
  ringSize: number
  /** Bytes each tenant may hold without borrowing from the pool (the rest of --memory). */
  ringReserve: number
  policy: FullPolicy
  workers: number
  batchBytes: number
  lingerMs: number
  tailBytes: number
  /** writethrough (default) or writeback: the kernel's page cache takes writes; see docs/cache-modes.md. */
  cache: CacheMode
  /** Writeback mode: how often dirty pages are handed to logfs, bounding delivery latency. */
  flushMs: number
  noShip: string[]
  rootUid: number
  rootGid: number
  rootMode: number
  compress: boolean
  ackTimeoutMs: number
  fsyncWaitMs: number
  drainTimeoutMs: number
  /** Where the directory skeleton is kept across restarts; none when null. */
  skeletonFile: string | null
  /** HOST:PORT for /metrics, /healthz and /readyz; none when null. */
  metricsListen: { host: string, port: number } | null
}

export class Agent {
  /**
   * Cursors order generations first, so a new agent must take a generation above its predecessor's even when the
   * clock went back meanwhile: a supervisor hands the last one down (protocol().envGenFloor). An agent that takes over
   * goes on with its predecessor's generation: its sources' cursors go on too.
   */
  readonly gen: number
  /** How this agent came to serve the mount (lib/agent/handover.ts). */
  readonly handover: Handover
  private readonly intake: Intake
  private readonly shipper: Shipper
  private readonly claim: NodeClaim
  private readonly fs: LogFs
  private fuse: Mount | null = null
  private stopping: Promise<boolean> | null = null
  readonly metrics = new Registry()
  private http: AgentHttp | null = null
  private collection: Collection = EMPTY
  private stopWatch: () => void = () => {}

  constructor (readonly options: AgentOptions) {
    // Before the rings: they live in the memfd, which a takeover finds full of the dead agent's bytes.
    this.handover = openHandover(options.memory, options.tailBytes)
    this.gen = this.handover.gen ?? Math.max(Date.now(), Number(process.env[protocol().envGenFloor] ?? 0) + 1)
    native.stateGen(this.gen)
    if (options.configFile) {
      const watch = watchCollection(options.configFile, (c) => {
        this.collection = c
        this.intake.updatePolicies()
        log('info', 'agent', `collection settings reloaded from ${options.configFile}`,
          { tenants: [...c.tenants.keys()] })
      }, (err) => log('error', 'agent', `collection settings not reloaded, keeping the last good ones: ${err.message}`))
      this.collection = watch.initial
      this.stopWatch = watch.stop
    }
    const tenantSettings = (tenant: string): TenantSettings => settingsFor(this.collection, tenant)
    this.intake = new Intake({
      reserve: options.ringReserve,
      settings: (tenant) => {
        const s = tenantSettings(tenant)
        return { ringSize: s.ringSize ?? options.ringSize, policy: s.fullPolicy ?? options.policy }
      },
    })
    this.intake.onNoRing = (tenant) => log('error', 'agent', `tenant ${tenant} gets no ring: the memfd has room for `
      + `no more (${this.intake.tenants.size} tenants); its writes fail with ENOSPC. Lower ring sizes.`)
    const link = {
      urls: options.servers, token: options.token, timeoutMs: options.ackTimeoutMs, compress: options.compress,
    }
    this.claim = new NodeClaim(link, options.node, this.gen)
    this.shipper = new Shipper(this.intake, {
      ackLatency: this.metrics.histogram('logfs_agent_ack_duration_seconds',
        'From handing a batch to a worker to the server acknowledging it.')(),
      link,
      node: options.node,
      gen: this.gen,
      workers: options.workers,
      batchBytes: options.batchBytes,
      lingerMs: options.lingerMs,
    })
    this.fs = new LogFs(this.intake, {
      rootUid: options.rootUid,
      rootGid: options.rootGid,
      rootMode: options.rootMode,
      noShip: options.noShip,
      fsyncWaitMs: options.fsyncWaitMs,
      settings: tenantSettings,
    })
  }

  /**
   * Serves the mount: mounts it, or takes it over from an agent that died. Throws HandoverError when a takeover
   * cannot be made; the caller then ends the old connection and has the supervisor start over (protocol().exitRenew).
   */
  async start (): Promise<void> {
    const { mode, fuseFd, failure } = this.handover
    if (mode === 'unusable') throw new HandoverError(`the memfd left by the agent before cannot be used: ${failure}`)
    const skeleton = this.options.skeletonFile ? new SkeletonFile(this.options.skeletonFile) : null
    await this.claimNode(mode === 'takeover')
    if (mode === 'takeover') {
      await this.takeOver(fuseFd)
    } else {
      if (await cleanStale(this.options.mountpoint)) {
        log('warn', 'agent', `cleaned a stale mount at ${this.options.mountpoint} left by an earlier crash`)
      }
      if (skeleton) {
        const made = restore(this.fs.tree, skeleton.load())
        if (made > 0) log('info', 'agent', `restored ${made} directories from ${skeleton.file}`)
      }
      this.fs.recordAll()
      this.fuse = await mount(this.options.mountpoint, this.fs.dispatch, () => this.intake.announced(),
        { cache: this.options.cache, flushMs: this.options.flushMs, fuseFd, takeover: false })
    }
    if (skeleton) this.fs.onTreeChange = () => skeleton.schedule(this.fs.tree)
    if (this.options.metricsListen) {
      registerAgentMetrics(this.metrics, () => this.report())
      this.http = await AgentHttp.listen(this.metrics, this.options.metricsListen,
        () => this.fuse !== null, () => this.fuse !== null && this.stopping === null)
    }
  }

  /**
   * A mount must not take writes it could never ship: under a node another live agent holds, it is refused
   * (InputError, exit 2) before it mounts. A takeover goes on with its predecessor's generation, which held the
   * node, and the mount is already there: it only says so.
   */
  private async claimNode (takeover: boolean): Promise<void> {
    const { node } = this.options
    try {
      const claim = await this.claim.take()
      if (!claim.held) {
        log('warn', 'agent', `could not check that no other agent ships as node ${node} (${claim.why}); mounting `
          + 'anyway: should another live mount hold it, this one\'s batches are refused until it is gone')
      }
    } catch (err) {
      if (!(err instanceof NodeHeldError)) throw err
      if (!takeover) throw new InputError(`${err.message}; this mount would take writes it could never ship`)
      log('error', 'agent', err.message)
    }
    this.claim.hold()
  }

  /** The dead agent's namespace, files and rings, then its connection; its unacknowledged bytes ship now. */
  private async takeOver (fuseFd: number): Promise<void> {
    let nodes: number
    try {
      nodes = this.fs.restore()
      this.fuse = await mount(this.options.mountpoint, this.fs.dispatch, () => this.intake.announced(),
        { cache: this.options.cache, flushMs: this.options.flushMs, fuseFd, takeover: true })
    } catch (err) {
      throw new HandoverError(`cannot take over the mount: ${(err as Error).message}`)
    }
    const pending = this.intake.pendingBytes()
    for (const t of this.intake.tenants.values()) if (t.ring.used > 0) this.intake.onData(t)
    log('info', 'agent', `took over ${this.options.mountpoint} from the agent before (${nodes} nodes, `
      + `${pending} unacknowledged bytes, generation ${this.gen}); open files kept working`)
  }

  get metricsAddress (): { host: string, port: number } | null { return this.http?.address ?? null }

  report (): AgentReport {
    return {
      mountpoint: this.options.mountpoint,
      node: this.options.node,
      gen: this.gen,
      tenants: [...this.intake.tenants.values()].map(t => ({ ...t.stats })),
      pool: this.intake.pool,
      ship: { ...this.shipper.stats },
      fs: this.fs.stats(),
      handover: {
        mode: this.handover.mode, takeovers: this.handover.takeovers, renewals: this.handover.renewals,
      },
      pendingBytes: this.intake.pendingBytes(),
      rssBytes: process.memoryUsage.rss(),
    }
  }

  /** Before a handover: the mount stays served until this process ends, with no thread of it inside a sync. */
  async quiesce (): Promise<void> {
    await this.fuse?.quiesce()
  }

  /**
   * Stops taking writes, ships what is buffered (bounded by the drain timeout), unmounts.
   * Resolves true when nothing was left unshipped.
   */
  stop (onProgress?: (pending: number) => void): Promise<boolean> {
    this.stopping ??= (async () => {
      // Writeback mode: what applications wrote sits in the kernel's page cache until flushed; it must reach the
      // rings before they stop taking writes, while the mount is still served.
      await this.fuse?.seal(this.options.drainTimeoutMs)
      this.intake.close()
      const drained = await this.shipper.drain(this.options.drainTimeoutMs, onProgress)
      if (!drained) {
        log('error', 'agent', `drain timed out after ${this.options.drainTimeoutMs} ms; `
          + `${this.intake.pendingBytes()} bytes were not shipped`)
        this.intake.failWaiting(EROFS)
      }
      this.fuse?.unmount()
      this.stopWatch()
      await this.shipper.close()
      this.claim.close()
      await this.http?.close()
      return drained
    })()
    return this.stopping
  }
}
