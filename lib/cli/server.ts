// `logfs server`: the ingest server, with the embedded store or as a gateway of a JetStream cluster.
import { Auth } from '../server/auth'
import { LogServer } from '../server/server'
import { Store } from '../store/disk/store'
import type { LogStore } from '../store/log-store'
import { ClusterStore } from '../jetstream/cluster-store'
import { parseNatsServers } from '../jetstream/address'
import { SNAPSHOT_EVERY } from '../jetstream/snapshots'
import { HELD_ENTRIES } from '../jetstream/pages'
import { log } from '../util/log'
import { LimitsInForce, builtinLimits, watchLimits } from '../server/limits'
import { InputError, parseDuration } from '../util/units'
import { parseInt10, parseListen, storeOptionsFrom, type StoreFlags } from './options'
import { emit, onStopSignal } from '../util/process'
import { fail } from './run'

export interface ServerFlags extends StoreFlags {
  dataDir: string
  listen: string
  /** 'embedded', or a nats:// URL list. */
  store?: string
  replicas?: string
  indexSnapshot?: string
  indexEntries?: string
  gateways?: string
  /** False with --no-token-filters. */
  tokenFilters?: boolean
  limits?: string
  queryWait?: string
  json?: boolean
}

export interface Running {
  server: LogServer
  store: LogStore
  host: string
  port: number
  limits: LimitsInForce
  /** Stops re-reading the limits file. */
  unwatch: () => void
}

/**
 * The limits file when one is given, watched: a bad file at start is bad input (exit 2); a bad edit later keeps the
 * limits in force and is logged.
 */
function openLimits (f: ServerFlags): { limits: LimitsInForce, stop: () => void } {
  const { retentionBytes, retentionMs } = storeOptionsFrom(f.dataDir, f)
  const builtin = builtinLimits({ size: retentionBytes, ageMs: retentionMs })
  const file = f.limits
  if (file === undefined) return { limits: new LimitsInForce({ default: builtin, tenants: new Map() }), stop: () => {} }
  let watch
  try {
    // The callback runs on a later change, once `limits` is set.
    watch = watchLimits(file, builtin, l => {
      limits.replace(l)
      log('info', 'server', `limits reloaded from ${file}`, { tenants: [...l.tenants.keys()] })
    }, err => log('error', 'server', `limits not reloaded, keeping the ones in force: ${err.message}`))
  } catch (err) {
    if (err instanceof InputError) throw err
    throw new InputError(`--limits ${file}: ${(err as Error).message}`)
  }
  const limits = new LimitsInForce(watch.initial)
  return { limits, stop: watch.stop }
}

/** The store the flags name; every flag is checked before anything is opened or dialled. */
async function openStore (f: ServerFlags, tenants: LimitsInForce): Promise<LogStore> {
  const where = f.store ?? 'embedded'
  const limits = storeOptionsFrom(f.dataDir, f)
  // Each tenant's retention as the limits say now: a reload applies from the next roll or minute on.
  if (where === 'embedded' && f.tokenFilters === false) {
    throw new InputError('--no-token-filters: only a gateway (--store nats://...) can do without token filters')
  }
  if (where === 'embedded') return Store.open({ ...limits, retention: t => tenants.for(t).retention })
  if (!where.startsWith('nats://')) {
    throw new InputError(`--store: '${where}' is neither 'embedded' nor a nats:// URL list`)
  }
  const servers = parseNatsServers(where)
  const replicas = parseInt10(f.replicas ?? '3', '--replicas', 1, 5)
  const snapshotEvery = parseInt10(f.indexSnapshot ?? String(SNAPSHOT_EVERY), '--index-snapshot', 0, 1e9)
  const heldEntries = parseInt10(f.indexEntries ?? String(HELD_ENTRIES), '--index-entries', 0, 1e9)
  return await ClusterStore.open({
    servers, replicas, maxBytes: limits.retentionBytes, maxAgeMs: limits.retentionMs, snapshotEvery,
    tokenFilters: f.tokenFilters, heldEntries,
  })
}

function storeLabel (f: ServerFlags): string {
  return (f.store ?? 'embedded') === 'embedded' ? `store in ${f.dataDir}` : `gateway of ${f.store}`
}

/** How many gateways share each tenant's ingest rate: only gateways of a cluster can be more than one. */
function gatewaysOf (f: ServerFlags): number {
  const n = parseInt10(f.gateways ?? '1', '--gateways', 1, 1000)
  if (n > 1 && (f.store ?? 'embedded') === 'embedded') {
    throw new InputError('--gateways: only gateways of a JetStream cluster (--store nats://) share a rate; ' +
      'an embedded store is one server')
  }
  return n
}

export async function startServer (f: ServerFlags): Promise<Running> {
  const auth = Auth.fromOptions({ token: f.token ?? process.env.LOGFS_TOKEN, tokens: f.tokens })
  const listen = parseListen(f.listen)
  const gateways = gatewaysOf(f)
  const queryWaitMs = f.queryWait === undefined ? undefined : parseDuration(f.queryWait, '--query-wait')
  const { limits, stop: stopWatch } = openLimits(f)
  const store = await openStore(f, limits)
  const server = new LogServer(store, auth, limits, { gateways, queryWaitMs })
  const addr = await server.listen(listen).catch(async (err: Error) => {
    stopWatch()
    await store.close()
    throw new Error(`cannot listen on ${f.listen}: ${err.message}`)
  })
  return { server, store, ...addr, limits, unwatch: stopWatch }
}

export async function stopServer (r: Running): Promise<void> {
  r.unwatch()
  await r.server.close()
  await r.store.close()
}

export async function serverCommand (f: ServerFlags): Promise<void> {
  const r = await startServer(f)
  log('info', 'server', `listening on ${r.host}:${r.port}, ${storeLabel(f)}`)
  if (f.json) emit('listening', { host: r.host, port: r.port, dataDir: f.dataDir, store: f.store ?? 'embedded' })
  onStopSignal(async (signal) => {
    log('info', 'server', `${signal}: stopping`)
    await stopServer(r)
    if (f.json) emit('stopped', { stats: r.server.stats })
    process.exit(0)
  }, fail)
}
