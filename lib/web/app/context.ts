// Feature 3, the flagship: the lines around a hit from the same source, by cursor (not by time), across batches
// and rotations; the anchor line marked, "load more" both ways, and a permalink (`/?ctx=SOURCE@CURSOR`).
import { h } from 'preact'
import htm from 'htm'
import type { Context, Line } from './api'
import { LineRow } from './line'

const html = htm.bind(h)

export const STEP = 20

export interface ContextAt { source: string, cursor: string, before: number, after: number }

/** `SOURCE@GEN:OFFSET`, as grep prints a hit; null when `text` is not one. */
export function parseAt (text: string): { source: string, cursor: string } | null {
  const m = /^([\s\S]+)@(\d+:\d+)$/.exec(text)
  return m ? { source: m[1], cursor: m[2] } : null
}

export function ContextView ({ at, ctx, more, trace }: {
  at: ContextAt, ctx: Context | null, more: (side: 'before' | 'after') => void, trace: (id: string) => void
}) {
  const row = (line: Line, anchor: boolean) => html`<${LineRow} key=${line.cursor} line=${line} anchor=${anchor}
    trace=${trace} />`
  const link = `?ctx=${encodeURIComponent(`${at.source}@${at.cursor}`)}`
  if (ctx === null) return html`<p class="muted">loading context…</p>`
  return html`<div class="context">
    <p><b>${ctx.source}</b> around <code>${at.cursor}</code> · <a class="permalink" href=${link}>permalink</a></p>
    <button class="more" onClick=${() => more('before')} disabled=${ctx.before.length < at.before}>
      load more before</button>
    <ol class="lines">
      ${ctx.before.map(l => row(l, false))}
      ${ctx.hit ? row(ctx.hit, true) : null}
      ${ctx.after.map(l => row(l, false))}
    </ol>
    <button class="more" onClick=${() => more('after')} disabled=${ctx.after.length < at.after}>
      load more after</button>
  </div>`
}
