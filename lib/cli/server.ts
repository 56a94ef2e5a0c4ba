// `logfs server`: the ingest server, with the embedded store or as a gateway of a JetStream cluster.
import { Auth } from '../server/auth'
import { LogServer } from '../server/server'
import { Store } from '../store/store'
import type { LogStore } from '../store/log-store'
import { ClusterStore } from '../jetstream/cluster-store'
import { parseNatsServers } from '../jetstream/address'
import { log } from '../util/log'
import { InputError } from '../util/units'
import { parseInt10, parseListen, storeOptionsFrom, type StoreFlags } from './options'
import { emit, onStopSignal } from '../util/process'
import { fail } from './run'

export interface ServerFlags extends StoreFlags {
  dataDir: string
  listen: string
  /** 'embedded', or a nats:// URL list. */
  store?: string
  replicas?: string
  json?: boolean
}

export interface Running { server: LogServer, store: LogStore, host: string, port: number }

/** The store the flags name; every flag is checked before anything is opened or dialled. */
async function openStore (f: ServerFlags): Promise<LogStore> {
  const where = f.store ?? 'embedded'
  const limits = storeOptionsFrom(f.dataDir, f)
  if (where === 'embedded') return Store.open(limits)
  if (!where.startsWith('nats://')) {
    throw new InputError(`--store: '${where}' is neither 'embedded' nor a nats:// URL list`)
  }
  const servers = parseNatsServers(where)
  const replicas = parseInt10(f.replicas ?? '3', '--replicas', 1, 5)
  return await ClusterStore.open({
    servers, replicas, maxBytes: limits.retentionBytes, maxAgeMs: limits.retentionMs,
  })
}

function storeLabel (f: ServerFlags): string {
  return (f.store ?? 'embedded') === 'embedded' ? `store in ${f.dataDir}` : `gateway of ${f.store}`
}

export async function startServer (f: ServerFlags): Promise<Running> {
  const auth = Auth.fromOptions({ token: f.token ?? process.env.LOGFS_TOKEN, tokens: f.tokens })
  const listen = parseListen(f.listen)
  const store = await openStore(f)
  const server = new LogServer(store, auth)
  const addr = await server.listen(listen).catch(async (err: Error) => {
    await store.close()
    throw new Error(`cannot listen on ${f.listen}: ${err.message}`)
  })
  return { server, store, ...addr }
}

export async function stopServer (r: Running): Promise<void> {
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
