// Traces on plain logs (seed 002): gather every line of one trace id from all sources and rebuild the call tree
// from the RPC ids (1, 1.1, 1.2, 1.2.1 …). A level nobody logged (or whose line was lost) still gets its place in
// the tree, marked missing, so the levels below it sit at the right depth.
import type { Store } from '../store/store'
import { linesFrom, lineAt } from './lines'

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

export function buildTrace (store: Store, traceId: string, allowed: (tenant: string) => boolean): Trace | null {
  const refs = store.traces.refs(traceId)
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
  for (const ref of refs) {
    const s = store.source(ref.source)
    if (!s || !allowed(s.tenant)) continue
    const pos = s.logicalOf(ref)
    if (pos === null) continue
    const [span] = linesFrom(s, pos, 1)
    if (!span) continue
    const line = lineAt(s, span.pos, span.end)
    let o: Record<string, unknown>
    try {
      o = JSON.parse(line.text) as Record<string, unknown>
    } catch {
      continue
    }
    if (o === null || typeof o !== 'object' || String(pick(o, 'trace_id')) !== traceId) continue
    lines++
    sources.add(s.source)
    const rpcId = pick(o, 'rpc_id')
    const fields = {
      name: pick(o, 'name') as string | undefined,
      duration: typeof pick(o, 'duration') === 'number' ? pick(o, 'duration') as number : undefined,
      timestamp: pick(o, 'timestamp') as string | number | undefined,
      error: isError(o),
      source: s.source,
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
  return { traceId, lines, sources: [...sources].sort(), roots, unplaced }
}
