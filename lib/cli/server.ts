// `logfs server`: the ingest server with the embedded store.
import { Auth } from '../server/auth'
import { LogServer } from '../server/server'
import { Store } from '../store/store'
import { log } from '../util/log'
import { parseListen, storeOptionsFrom, type StoreFlags } from './options'
import { emit, onStopSignal } from '../util/process'
import { fail } from './run'

export interface ServerFlags extends StoreFlags {
  dataDir: string
  listen: string
  json?: boolean
}

export interface Running { server: LogServer, store: Store, host: string, port: number }

export async function startServer (f: ServerFlags): Promise<Running> {
  const auth = Auth.fromOptions({ token: f.token ?? process.env.LOGFS_TOKEN, tokens: f.tokens })
  const listen = parseListen(f.listen)
  const store = Store.open(storeOptionsFrom(f.dataDir, f))
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
  log('info', 'server', `listening on ${r.host}:${r.port}, store in ${f.dataDir}`)
  if (f.json) emit('listening', { host: r.host, port: r.port, dataDir: f.dataDir })
  onStopSignal(async (signal) => {
    log('info', 'server', `${signal}: stopping`)
    await stopServer(r)
    if (f.json) emit('stopped', { stats: r.server.stats })
    process.exit(0)
  }, fail)
}
