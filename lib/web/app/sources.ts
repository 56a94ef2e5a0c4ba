// Feature 1: the sources the token may see, with size, last write and dropped bytes.
import { h } from 'preact'
import htm from 'htm'
import type { SourceInfo } from './api'
import { size, time } from './format'

const html = htm.bind(h)

export function Sources ({ sources, pick, tail }: {
  sources: SourceInfo[] | null, pick: (glob: string) => void, tail: (name: string) => void
}) {
  if (sources === null) return html`<p class="muted">loading sources…</p>`
  if (sources.length === 0) return html`<p class="muted">no sources yet</p>`
  return html`<table class="sources">
    <thead><tr><th>node</th><th>tenant</th><th>path</th><th>size</th><th>last write</th><th>dropped</th><th></th></tr>
    </thead>
    <tbody>${sources.map(s => html`<tr key=${s.source}>
      <td>${s.node}</td><td>${s.tenant}</td>
      <td><a href="#" title="search this source"
        onClick=${(e: Event) => { e.preventDefault(); pick(s.source) }}>${s.path}</a></td>
      <td class="num">${size(s.bytes)}</td><td>${time(s.lastWrite)}</td>
      <td class="num">${s.gapBytes > 0 ? size(s.gapBytes) : '–'}</td>
      <td><button class="tail" onClick=${() => tail(s.source)}>tail</button></td>
    </tr>`)}</tbody>
  </table>`
}
