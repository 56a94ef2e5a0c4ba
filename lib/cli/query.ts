// `logfs tail`, `grep`, `context` and `trace`: the query endpoints for a terminal (colour when it is one) or a
// script (`--json`).
import { InputError, formatBytes, formatTime, parseTime, printable } from '../util/units'
import { get, type ReadFlags } from './read'
import type { Trace } from '../query/trace'
import { renderTrace } from './trace-view'
import type { Line } from '../query/lines'
import type { GrepResult } from '../query/grep'
import type { Context } from '../query/context'

const color = process.stdout.isTTY === true && !process.env.NO_COLOR
export const dim = (s: string): string => color ? `\x1b[2m${s}\x1b[0m` : s
export const cyan = (s: string): string => color ? `\x1b[36m${s}\x1b[0m` : s
const hot = (s: string): string => color ? `\x1b[1;31m${s}\x1b[0m` : s

const out = (text: string): void => { process.stdout.write(text) }

/** Time and source before each line, so lines from many sources and rotations stay readable. */
function show (l: Line, match?: [number, number]): string {
  const text = match
    ? l.text.slice(0, match[0]) + hot(l.text.slice(match[0], match[1])) + l.text.slice(match[1])
    : l.text
  return `${dim(formatTime(l.ts))} ${cyan(`${printable(l.source)}@${l.cursor}`)} ${text}\n`
}

export interface TailFlags extends ReadFlags { follow?: boolean, lines: string }

export async function tailCommand (source: string | undefined, f: TailFlags): Promise<void> {
  if (source === undefined && !(f.follow && f.source)) {
    throw new InputError('name a source, or follow many with -f --source GLOB')
  }
  const lines = Number(f.lines)
  if (!Number.isInteger(lines) || lines < 0) throw new InputError(`--lines: '${f.lines}' is not a whole number`)
  const print = (l: Line): void => out(f.json ? JSON.stringify(l) + '\n' : color ? show(l) : l.text + '\n')
  if (!f.follow || source === undefined) {
    if (source === undefined) return followLines(await get(f, '/v1/tail', { glob: f.source!, follow: '1' }), print)
    const body = await (await get(f, '/v1/tail', { source, lines: String(lines) })).json() as { lines: Line[] }
    body.lines.forEach(print)
    return
  }
  return followLines(await get(f, '/v1/tail', { source, lines: String(lines), follow: '1' }), print)
}

async function followLines (res: Response, print: (l: Line) => void): Promise<void> {
  if (!res.body) throw new Error('the server sent no stream')
  const decoder = new TextDecoder()
  let buf = ''
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(chunk, { stream: true })
    let end
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const event = buf.slice(0, end)
      buf = buf.slice(end + 2)
      const data = /^data: (.*)$/m.exec(event)
      if (!data) continue
      if (/^event: line$/m.test(event)) print(JSON.parse(data[1]) as Line)
      // Several consecutive lines of one source; the cursor and time are the first line's.
      else if (/^event: lines$/m.test(event)) {
        const block = JSON.parse(data[1]) as Line
        for (const text of block.text.split('\n')) print({ ...block, text })
      }
    }
  }
  throw new Error('the server ended the stream')
}

export interface GrepFlags extends ReadFlags {
  regex?: boolean
  ignoreCase?: boolean
  word?: boolean
  since?: string
  until?: string
  limit: string
}

export async function grepCommand (pattern: string, f: GrepFlags): Promise<void> {
  const params: Record<string, string> = { q: pattern, limit: f.limit }
  if (f.regex) params.regex = '1'
  if (f.ignoreCase) params.i = '1'
  if (f.word) params.w = '1'
  // Relative times are resolved here, against this machine's clock, so the server sees absolute ones.
  if (f.since) params.since = String(parseTime(f.since, '--since'))
  if (f.until) params.until = String(parseTime(f.until, '--until'))
  if (f.source) params.source = f.source
  const result = await (await get(f, '/v1/grep', params)).json() as GrepResult
  if (f.json) out(JSON.stringify(result) + '\n')
  else {
    for (const h of result.hits) out(show(h, h.match))
    if (result.truncated && !result.scanLimited) process.stderr.write(`logfs: stopped at ${f.limit} hits (--limit)\n`)
  }
  if (result.scanLimited) scanLimitNote('searched', result.scannedBytes)
  // Like grep(1): exit 1 when nothing matched; but when the scan limit stopped the search before anything matched,
  // 3: whether the rest holds a match is not known.
  if (result.hits.length === 0) process.exitCode = result.scanLimited ? EXIT_SCAN_LIMITED : 1
}

/** `logfs grep` found nothing in what the tenant's scan limit let it read. */
export const EXIT_SCAN_LIMITED = 3

/** Said on stderr, JSON or not: the answer is what the first bytes held, not the whole range's. */
function scanLimitNote (what: string, bytes?: number): void {
  const read = bytes === undefined ? '' : ` after ${formatBytes(bytes)}`
  process.stderr.write(`logfs: ${what} only part of the range: the server stopped${read} at the tenant's scan ` +
    'limit (narrow it with --source, --since or --until)\n')
}

export interface ContextFlags extends ReadFlags { before: string, after: string }

export async function contextCommand (at: string, f: ContextFlags): Promise<void> {
  const m = /^([\s\S]+)@(\d+:\d+)$/.exec(at)
  if (!m) {
    throw new InputError(`'${at}' is not SOURCE@CURSOR (as grep prints it, e.g. node/shop/app.log@1795403184603:1234)`)
  }
  const params = { source: m[1], cursor: m[2], before: f.before, after: f.after }
  const body = await (await get(f, '/v1/context', params)).json() as Context
  if (f.json) return out(JSON.stringify(body) + '\n')
  for (const l of body.before) out(show(l))
  if (body.hit) out(show(body.hit, [0, body.hit.text.length]))
  for (const l of body.after) out(show(l))
}

export async function traceCommand (id: string, f: ReadFlags): Promise<void> {
  const trace = await (await get(f, '/v1/trace', { id })).json() as Trace
  out(f.json ? JSON.stringify(trace) + '\n' : renderTrace(trace, color))
  if (trace.scanLimited) scanLimitNote('gathered the trace from')
}
