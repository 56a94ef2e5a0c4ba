// `logfs trace` on a terminal: the call tree of a trace, one span a line, missing levels dimmed, errors in red.
import type { Span, Trace } from '../query/trace'

/** The tree as text, one span a line, for a terminal. */
export function renderTrace (t: Trace, color: boolean): string {
  const red = (s: string): string => color ? `\x1b[1;31m${s}\x1b[0m` : s
  const dim = (s: string): string => color ? `\x1b[2m${s}\x1b[0m` : s
  const out = [`trace ${t.traceId}: ${t.lines} line(s) from ${t.sources.length} source(s)`]
  const walk = (list: Span[], prefix: string): void => {
    list.forEach((n, i) => {
      const last = i === list.length - 1
      const duration = n.duration !== undefined ? ` ${n.duration}ms` : ''
      const label = n.missing
        ? dim(`${n.rpcId} (missing: no line logged for this level)`)
        : `${n.rpcId} ${n.name ?? ''}${duration}${n.error ? ' ' + red('ERROR') : ''}  ${dim(n.source ?? '')}`
      out.push(`${prefix}${last ? '└─ ' : '├─ '}${label}`)
      walk(n.children, prefix + (last ? '   ' : '│  '))
    })
  }
  walk(t.roots, '')
  for (const n of t.unplaced) out.push(`?  ${n.name ?? ''} (no rpc_id)  ${dim(n.source ?? '')}`)
  return out.join('\n') + '\n'
}
