// `logfs query 'LOGQL'`: a LogQL query through the server's Loki API. A log query prints its lines as grep does
// (time, source, line), oldest first; a metric query a table per series, with a sparkline on a terminal.
import { InputError, formatTime, parseTime, printable } from '../util/units'
import { get, type ReadFlags } from './read'
import { cyan, dim } from './query'

export interface LogQLFlags extends ReadFlags {
  since: string
  until?: string
  step?: string
  limit: string
}

type Labels = Record<string, string>

interface Answer {
  data: {
    resultType: 'streams' | 'matrix' | 'vector' | 'scalar'
    result: unknown
    stats?: { summary?: { scanLimited?: boolean } }
  }
}

const out = (text: string): void => { process.stdout.write(text) }
const tty = process.stdout.isTTY === true

const SPARKS = '▁▂▃▄▅▆▇█'

/** One character per value, scaled between the series' least and greatest; a space where it has none. */
export function sparkline (values: Array<number | null>): string {
  const present = values.filter((v): v is number => v !== null && Number.isFinite(v))
  const lo = Math.min(...present)
  const hi = Math.max(...present)
  return values.map(v => {
    if (v === null || !Number.isFinite(v)) return ' '
    return SPARKS[hi === lo ? 3 : Math.round((v - lo) / (hi - lo) * (SPARKS.length - 1))]
  }).join('')
}

function labelText (labels: Labels): string {
  return '{' + Object.entries(labels).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ') + '}'
}

export async function logqlCommand (query: string, f: LogQLFlags): Promise<void> {
  const start = parseTime(f.since, '--since')
  const end = f.until ? parseTime(f.until, '--until') : Date.now()
  const params: Record<string, string> = {
    query, start: String(start * 1e6), end: String(end * 1e6), limit: f.limit, direction: 'forward',
  }
  if (f.step) {
    if (!/^\d+(\.\d+)?(ms|s|m|h|d)?$/.test(f.step)) throw new InputError(`--step: '${f.step}' is not a duration`)
    params.step = f.step
  }
  const body = await (await get(f, '/loki/api/v1/query_range', params)).json() as Answer
  if (f.json) out(JSON.stringify(body) + '\n')
  else printAnswer(body)
  if (body.data.stats?.summary?.scanLimited) {
    process.stderr.write('logfs: the answer covers only part of the range: the server stopped at the tenant\'s ' +
      'scan limit (narrow the selector or the range)\n')
  }
}

function printAnswer (body: Answer): void {
  const { resultType, result } = body.data
  if (resultType === 'streams') {
    const lines: Array<{ ns: bigint, source: string, text: string }> = []
    for (const s of result as Array<{ stream: Labels, values: Array<[string, string]> }>) {
      const source = s.stream.source ?? labelText(s.stream)
      for (const [ns, text] of s.values) lines.push({ ns: BigInt(ns), source, text })
    }
    lines.sort((a, b) => a.ns < b.ns ? -1 : a.ns > b.ns ? 1 : 0)
    for (const l of lines) {
      out(`${dim(formatTime(Number(l.ns / 1_000_000n)))} ${cyan(printable(l.source))} ${l.text}\n`)
    }
    if (lines.length === 0) process.exitCode = 1
    return
  }
  if (resultType === 'scalar') {
    out(`${(result as [number, string])[1]}\n`)
    return
  }
  if (resultType === 'vector') {
    const rows = result as Array<{ metric: Labels, value: [number, string] }>
    const width = Math.max(0, ...rows.map(r => labelText(r.metric).length))
    for (const r of rows) out(`${cyan(labelText(r.metric).padEnd(width))}  ${r.value[1]}\n`)
    return
  }
  for (const s of result as Array<{ metric: Labels, values: Array<[number, string]> }>) {
    out(cyan(labelText(s.metric)) + '\n')
    if (tty) out(`  ${sparkline(s.values.map(v => Number(v[1])))}\n`)
    for (const [t, v] of s.values) out(`  ${dim(formatTime(t * 1000))}  ${v}\n`)
  }
}
