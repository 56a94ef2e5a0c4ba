// The DuckDB side of bench:logql: one tenant's stored lines written out as newline-delimited JSON files, one per
// source, and SQL over them with read_json. Each line is written as stored, with the time logfs gave it (the agent's
// time of the write that began the line, which windows the line in LogQL) put first as the field `_ts`, so both
// engines window the same lines alike.
import fs from 'node:fs'
import path from 'node:path'
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api'
import { scanSegment } from '../lib/store/disk/segment'
import { segmentFile, segmentIds, tenantDir } from '../lib/store/disk/layout'
import { NL } from '../lib/util/bytes'

export interface Exported {
  /** The file of each source, by source name. */
  files: Map<string, string>
  lines: number
  /** The oldest and newest line's time, ms since the epoch. */
  firstTs: number
  lastTs: number
}

const FLUSH = 4 << 20
const NEWLINE = Buffer.from('\n')

/** A source's file being written: its lines buffered, and the start of a line the next entry ends. */
interface Out { fd: number, file: string, chunks: Buffer[], size: number, pending: Buffer | null, pendingTs: number }

function flush (o: Out): void {
  fs.writeSync(o.fd, Buffer.concat(o.chunks))
  o.chunks = []
  o.size = 0
}

/** One file per source of `tenant` under `outDir`: its lines in order, each as `{"_ts":MS,...the line's fields}`. */
export function exportTenant (dataDir: string, tenant: string, outDir: string): Exported {
  fs.mkdirSync(outDir, { recursive: true })
  const dir = tenantDir(dataDir, tenant)
  const out = new Map<string, Out>()
  let lines = 0
  let firstTs = Infinity
  let lastTs = -Infinity
  const emit = (o: Out, ts: number, line: Buffer): void => {
    if (line.length < 2 || line[0] !== 0x7b) throw new Error(`not a JSON object line: ${line.toString().slice(0, 80)}`)
    o.chunks.push(Buffer.from(`{"_ts":${ts},`), line.subarray(1), NEWLINE)
    o.size += line.length + 20
    if (o.size > FLUSH) flush(o)
    lines++
    if (ts < firstTs) firstTs = ts
    if (ts > lastTs) lastTs = ts
  }
  for (const id of segmentIds(dir)) {
    const file = segmentFile(dir, id)
    const { refs } = scanSegment(file, false)
    const data = fs.readFileSync(file)
    for (const ref of refs) {
      let o = out.get(ref.source)
      if (!o) {
        const name = path.join(outDir, `${out.size}.ndjson`)
        o = { fd: fs.openSync(name, 'w'), file: name, chunks: [], size: 0, pending: null, pendingTs: 0 }
        out.set(ref.source, o)
      }
      const body = data.subarray(ref.at, ref.at + ref.length)
      let at = 0
      // A line that began in an earlier entry of the source keeps that entry's time.
      if (o.pending !== null) {
        const nl = body.indexOf(NL)
        const piece = body.subarray(0, nl < 0 ? body.length : nl)
        o.pending = Buffer.concat([o.pending, piece])
        if (nl < 0) continue
        emit(o, o.pendingTs, o.pending)
        o.pending = null
        at = nl + 1
      }
      while (at < body.length) {
        const nl = body.indexOf(NL, at)
        if (nl < 0) {
          o.pending = Buffer.from(body.subarray(at))
          o.pendingTs = ref.timestamp
          break
        }
        emit(o, ref.timestamp, body.subarray(at, nl))
        at = nl + 1
      }
    }
  }
  const files = new Map<string, string>()
  for (const [source, o] of out) {
    if (o.pending !== null) emit(o, o.pendingTs, o.pending)
    flush(o)
    fs.closeSync(o.fd)
    files.set(source, o.file)
  }
  return { files, lines, firstTs, lastTs }
}

/** A connection to an in-memory DuckDB, which reads the exported files afresh on every query. */
export async function duckdb (): Promise<DuckDBConnection> {
  return await (await DuckDBInstance.create(':memory:')).connect()
}

/** `read_json` over the exported files with the columns the queries use, and each row's file name. */
export function linesTable (files: Iterable<string>): string {
  const list = [...files].map(f => `'${f}'`).join(', ')
  return `read_json([${list}], format = 'newline_delimited', filename = true, ` +
    'columns = {_ts: \'BIGINT\', level: \'VARCHAR\', name: \'VARCHAR\', duration: \'DOUBLE\', msg: \'VARCHAR\'})'
}

/** Rows of a query as plain objects (BIGINTs as numbers). */
export async function rows (c: DuckDBConnection, sql: string): Promise<Array<Record<string, unknown>>> {
  const r = await c.runAndReadAll(sql)
  return r.getRowObjects().map(row => Object.fromEntries(Object.entries(row)
    .map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : v])))
}
