// Flags shared by commands, parsed once, with errors that name the flag.
import { Command, Option } from 'commander'
import os from 'node:os'
import fs from 'node:fs'
import { parseCollection } from '../config/collection'
import { InputError, parseDuration, parseSize } from '../util/units'
import { parseOwner } from '../util/owner'
import { checkRingSize } from '../ring/records'
import type { AgentOptions } from '../agent/agent'
import { DEFAULT_NO_SHIP } from '../fs/ops'

export function parseListen (text: string, flag = '--listen'): { host: string, port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text)
  const port = m ? Number(m[3]) : NaN
  if (!m || port > 65535) throw new InputError(`${flag}: '${text}' is not HOST:PORT (example: 127.0.0.1:7070)`)
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port }
}

export function parseInt10 (text: string, what: string, min: number, max: number): number {
  const n = Number(text)
  if (!/^\d+$/.test(text) || n < min || n > max) {
    throw new InputError(`${what}: '${text}' must be a whole number from ${min} to ${max}`)
  }
  return n
}

/** The server's token: from the flag, else from LOGFS_TOKEN so it need not appear in `ps`. */
export function tokenFrom (opts: { token?: string }): string {
  const token = opts.token ?? process.env.LOGFS_TOKEN
  if (!token) throw new InputError('no token: give --token or set LOGFS_TOKEN')
  return token
}

export function addAgentOptions (cmd: Command): Command {
  return cmd
    .option('--token <token>', 'token for the server (default: $LOGFS_TOKEN)')
    .option('--node <name>', 'node name that prefixes every source on the server (default: the hostname and the '
      + 'mount point, e.g. web-1_var-log-pods for /var/log/pods)')
    .option('--memory <size>', 'bytes all rings may hold together (reserves, plus what tenants borrow past them)',
      '256MiB')
    .option('--ring-size <size>', 'most a tenant (top-level directory) may hold: its ring', '16MiB')
    .option('--ring-reserve <size>', 'what each tenant may always hold; past it, it borrows from what --memory has '
      + 'left', '256KiB')
    .addOption(new Option('--full-policy <policy>', 'what a write does when its tenant ring is full')
      .choices(['block', 'drop']).default('block'))
    .option('--workers <n>', 'shipping worker threads', '1')
    .option('--batch-size <size>', 'largest batch sent at once', '1MiB')
    .option('--linger <duration>', 'how long written bytes may wait for more to join their batch', '5ms')
    .addOption(new Option('--cache <mode>', 'writethrough: every write() reaches logfs before it returns; writeback: '
      + 'the kernel\'s page cache takes writes and logfs gets them at least every --flush-interval (faster; what is '
      + 'not yet flushed is lost if the agent dies, see docs/cache-modes.md)')
      .choices(['writethrough', 'writeback']).default('writethrough'))
    .option('--flush-interval <duration>', 'writeback mode: how often written pages are handed to logfs', '20ms')
    .option('--tail-size <size>', 'recent bytes of each file kept readable on the mount', '64KiB')
    .option('--local-only <glob...>', 'files created at paths matching these globs stay in memory and are not shipped '
      + '(default: rotated copies and archives)')
    .option('--owner <uid:gid>', 'owner of the mount root; new entries inherit their directory\'s owner', '0:0')
    .option('--mode <octal>', 'permissions of the mount root', '1777')
    .option('--no-compress', 'send batches uncompressed')
    .option('--ack-timeout <duration>', 'how long to wait for the server to acknowledge a batch', '15s')
    .option('--fsync-wait <duration>', 'how long fsync waits for the server before answering EIO', '10s')
    .option('--drain-timeout <duration>', 'how long a stop may take to ship what is buffered', '30s')
    .option('--metrics-listen <host:port>', 'serve /metrics, /healthz and /readyz here (port 0: any free port)')
    .option('--config <file>', 'per-tenant collection settings (JSON, re-read when it changes)')
}

export interface AgentFlags {
  token?: string
  node?: string
  memory: string
  ringSize: string
  ringReserve: string
  fullPolicy: 'block' | 'drop'
  workers: string
  batchSize: string
  linger: string
  cache: 'writethrough' | 'writeback'
  flushInterval: string
  tailSize: string
  localOnly?: string[]
  owner: string
  mode: string
  compress: boolean
  ackTimeout: string
  fsyncWait: string
  drainTimeout: string
  metricsListen?: string
  config?: string
}

/** One `--server` URL as the agent dials it: ws:// or wss://, at /v1/ingest unless it names a path. */
function ingestUrl (text: string): string {
  if (!/^wss?:\/\/[^/]+/.test(text)) {
    throw new InputError(`--server: '${text}' is not a ws:// or wss:// URL (example: ws://127.0.0.1:7070)`)
  }
  const url = new URL(text)
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/v1/ingest'
  return url.toString()
}

/**
 * The hostname and the mount point (`web-1` and `/var/log/pods` give `web-1_var-log-pods`): two mounts on one host
 * must not ship under one node, whose batches the server takes from one agent at a time. Characters a node name
 * cannot hold become `_`.
 */
export function defaultNode (mountpoint: string, hostname = os.hostname()): string {
  const safe = (s: string): string => s.replace(/[^A-Za-z0-9._-]/g, '_')
  const place = mountpoint.split('/').filter(p => p !== '').map(safe).join('-')
  return place === '' ? safe(hostname) : `${safe(hostname)}_${place}`
}

export function agentOptionsFrom (mountpoint: string, server: string, f: AgentFlags,
  skeletonFile: string | null = null): AgentOptions {
  const servers = server.split(',').map(u => u.trim()).filter(u => u !== '').map(ingestUrl)
  if (servers.length === 0) throw new InputError('--server: no URL given (example: ws://127.0.0.1:7070)')
  if (!/^[0-7]{3,4}$/.test(f.mode)) throw new InputError(`--mode: '${f.mode}' is not an octal mode (example: 1777)`)
  const node = f.node ?? defaultNode(mountpoint)
  if (!/^[A-Za-z0-9._-]+$/.test(node)) {
    throw new InputError(`--node: '${node}' may use only letters, digits, '.', '_' and '-'`)
  }
  const owner = parseOwner(f.owner)
  if (!owner) throw new InputError(`--owner: '${f.owner}' is not UID:GID (example: 1000:1000)`)
  const [rootUid, rootGid] = owner
  const ringSize = checkRingSize(parseSize(f.ringSize, '--ring-size'), '--ring-size', InputError)
  const memory = parseSize(f.memory, '--memory')
  if (memory < ringSize) {
    throw new InputError(`--memory (${f.memory}) must hold at least one ring (--ring-size ${f.ringSize})`)
  }
  const ringReserve = parseSize(f.ringReserve, '--ring-reserve')
  if (ringReserve < 64 * 1024 || ringReserve % 8 !== 0) {
    throw new InputError('--ring-reserve must be at least 64KiB and a multiple of 8 bytes')
  }
  const batchBytes = parseSize(f.batchSize, '--batch-size')
  if (batchBytes < 4096 || batchBytes > 8 * 1024 * 1024) throw new InputError('--batch-size must be from 4KiB to 8MiB')
  const flushMs = parseDuration(f.flushInterval, '--flush-interval')
  if (flushMs < 1 || flushMs > 60_000) throw new InputError('--flush-interval must be from 1ms to 60s')
  if (f.config) {
    try { parseCollection(fs.readFileSync(f.config, 'utf8'), f.config) } catch (err) {
      if (err instanceof InputError) throw err
      throw new InputError(`--config ${f.config}: ${(err as Error).message}`)
    }
  }
  return {
    configFile: f.config ?? null,
    mountpoint,
    servers,
    token: tokenFrom(f),
    node,
    memory,
    ringSize,
    ringReserve,
    policy: f.fullPolicy,
    workers: parseInt10(f.workers, '--workers', 1, 64),
    batchBytes,
    lingerMs: parseDuration(f.linger, '--linger'),
    tailBytes: Math.max(4096, parseSize(f.tailSize, '--tail-size')),
    cache: f.cache,
    flushMs,
    noShip: f.localOnly ?? DEFAULT_NO_SHIP,
    rootUid,
    rootGid,
    rootMode: parseInt(f.mode, 8),
    compress: f.compress,
    ackTimeoutMs: parseDuration(f.ackTimeout, '--ack-timeout'),
    fsyncWaitMs: parseDuration(f.fsyncWait, '--fsync-wait'),
    drainTimeoutMs: parseDuration(f.drainTimeout, '--drain-timeout'),
    metricsListen: f.metricsListen ? parseListen(f.metricsListen, '--metrics-listen') : null,
    skeletonFile,
  }
}

export function addStoreOptions (cmd: Command): Command {
  return cmd
    .option('--tokens <file>', 'JSON file {"TOKEN": ["tenant", ...] | "*"}')
    .option('--segment-size <size>', 'size at which a store segment is closed (a tenant\'s segments close at a ' +
      'quarter of its retention size when that is smaller, 1MiB at least)', '64MiB')
    .option('--retention-size <size>', 'per tenant: delete its oldest segments beyond this total (its stream\'s ' +
      'limit with --store nats://); a --limits file\'s retention.size overrides it', '10GiB')
    .option('--retention-age <duration>', 'per tenant: delete its segments whose newest record is older than ' +
      'this; a --limits file\'s retention.age overrides it', '7d')
}

export interface StoreFlags {
  token?: string
  tokens?: string
  segmentSize: string
  retentionSize: string
  retentionAge: string
}

export function storeOptionsFrom (dir: string, f: StoreFlags):
  { dir: string, segmentBytes: number, retentionBytes: number, retentionMs: number } {
  return {
    dir,
    segmentBytes: Math.max(1024 * 1024, parseSize(f.segmentSize, '--segment-size')),
    retentionBytes: parseSize(f.retentionSize, '--retention-size'),
    retentionMs: parseDuration(f.retentionAge, '--retention-age'),
  }
}
