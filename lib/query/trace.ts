// Traces on plain JSON logs (trace_id + rpc_id fields): gather every line of one trace id from all sources and
// rebuild the call tree from the RPC ids (1, 1.1, 1.2, 1.2.1 …). A level nobody logged (or whose line was lost) still
// gets its place in the tree, marked missing, so the levels below it sit at the right depth.
import type { LogStore } from '../store/log-store'
import { grep } from './grep'
import { MAX_LINES } from './lines'
import { selectSources } from './scope'

export interface Span {
  rpcId: string
  missing: boolean
  name?: string
  duration?: number
  timestamp?: string | number
  error: boolean
  source?: string
  cursor?: string
  line?: string
  children: Span[]
}

export interface Trace {
  traceId: string
  lines: number
  sources: string[]
  roots: Span[]
  /** Lines of the trace without a usable rpc_id. */
  unplaced: Span[]
  /** The search for its lines stopped early (MAX_LINES lines, or the scan limit): the trace may have more. */
  truncated: boolean
  /** It stopped at the scan limit. */
  scanLimited: boolean
}

const pick = (o: Record<string, unknown>, key: string): unknown => o[key] ?? o[`x_${key}`]

function isError (o: Record<string, unknown>): boolean {
  for (const [k, v] of Object.entries(o)) {
    const named = k === 'error' || k.endsWith('.error') || k === 'log.exception' || k === 'exception'
    if (named && v !== false && v !== null && v !== '') return true
  }
  const log = o.log as Record<string, unknown> | undefined
  if (log && typeof log === 'object' && log.exception) return true
  const level = String(o.level ?? o.severity ?? '').toLowerCase()
  return level === 'error' || level === 'fatal'
}

const segments = (id: string): number[] => id.split('.').map(Number)

function compareIds (a: string, b: string): number {
  const x = segments(a)
  const y = segments(b)
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i]
  return x.length - y.length
}

/**
 * The call tree of one trace. Its lines are found as a search for the id as a JSON string, which the store's
 * filters answer from a few blocks (the id's tokens are bounded by its quotes), then kept when their trace_id is
 * the id; at most MAX_LINES of them, found in at most `scan` bytes read.
 */
export async function buildTrace (store: LogStore, traceId: string,
  allowed: (tenant: string) => boolean, scan = Infinity): Promise<Trace | null> {
  const { hits, truncated, scanLimited } = await grep(store, selectSources(store, allowed, null),
    { pattern: JSON.stringify(traceId), regex: false, ignoreCase: false, word: false, limit: MAX_LINES, scan })
  const nodes = new Map<string, Span>()
  const roots: Span[] = []
  const unplaced: Span[] = []
  const sources = new Set<string>()
  let lines = 0
  const place = (id: string): Span => {
    let node = nodes.get(id)
    if (node) return node
    node = { rpcId: id, missing: true, error: false, children: [] }
    nodes.set(id, node)
    const dot = id.lastIndexOf('.')
    if (dot < 0) roots.push(node)
    else place(id.slice(0, dot)).children.push(node)
    return node
  }
  for (const line of hits) {
    let o: Record<string, unknown>
    try {
      o = JSON.parse(line.text) as Record<string, unknown>
    } catch {
      continue
    }
    if (o === null || typeof o !== 'object' || String(pick(o, 'trace_id')) !== traceId) continue
    lines++
    sources.add(line.source)
    const rpcId = pick(o, 'rpc_id')
    const fields = {
      name: pick(o, 'name') as string | undefined,
      duration: typeof pick(o, 'duration') === 'number' ? pick(o, 'duration') as number : undefined,
      timestamp: pick(o, 'timestamp') as string | number | undefined,
      error: isError(o),
      source: line.source,
      cursor: line.cursor,
      line: line.text,
    }
    if (typeof rpcId === 'string' && /^\d+(\.\d+)*$/.test(rpcId)) {
      const node = place(rpcId)
      // A second line for the same RPC (a start and an end, say) adds what the first lacked.
      if (!node.missing) {
        node.duration ??= fields.duration
        node.error ||= fields.error
        continue
      }
      Object.assign(node, fields, { missing: false })
    } else {
      unplaced.push({ rpcId: String(rpcId ?? '?'), missing: false, children: [], ...fields })
    }
  }
  if (lines === 0) return null
  const sort = (list: Span[]): void => {
    list.sort((a, b) => compareIds(a.rpcId, b.rpcId))
    for (const n of list) sort(n.children)
  }
  sort(roots)
  return { traceId, lines, sources: [...sources].sort(), roots, unplaced, truncated, scanLimited }
}
