// Feature 5: a trace's call tree (rpc_id hierarchy), with durations and errors marked; levels nobody logged are
// shown as missing, so the levels below them keep their depth.
import { h } from 'preact'
import htm from 'htm'
import type { Span, Trace } from './api'

const html = htm.bind(h)

function SpanItem ({ span, context }: { span: Span, context: (source: string, cursor: string) => void }) {
  const cls = ['span', span.missing ? 'missing' : '', span.error ? 'failed' : ''].filter(Boolean).join(' ')
  return html`<li class=${cls}>
    <span class="rpc">${span.rpcId}</span>
    <span class="name">${span.missing ? '(missing)' : span.name ?? ''}</span>
    ${span.duration !== undefined ? html`<span class="dur">${span.duration} ms</span>` : null}
    ${span.error ? html`<span class="err">error</span>` : null}
    ${span.source && span.cursor
      ? html`<a class="src" href="#"
          onClick=${(e: Event) => { e.preventDefault(); context(span.source!, span.cursor!) }}>
          ${span.source}@${span.cursor}</a>`
      : null}
    ${span.children.length > 0
      ? html`<ul>${span.children.map(c => html`<${SpanItem} span=${c} context=${context} />`)}</ul>`
      : null}
  </li>`
}

export function TraceView ({ trace, context }: {
  trace: Trace | null, context: (source: string, cursor: string) => void
}) {
  if (trace === null) return html`<p class="muted">loading trace…</p>`
  return html`<div class="trace-view">
    <p><b>trace ${trace.traceId}</b>: ${trace.lines} line(s) from ${trace.sources.length} source(s)</p>
    <ul class="tree">${trace.roots.map(s => html`<${SpanItem} span=${s} context=${context} />`)}</ul>
    ${trace.unplaced.length > 0
      ? html`<p class="muted">without an rpc_id:</p>
        <ul class="tree">${trace.unplaced.map(s => html`<${SpanItem} span=${s} context=${context} />`)}</ul>`
      : null}
  </div>`
}
