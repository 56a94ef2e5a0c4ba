// One log line as every view shows it: time, where it is, the text (the match in <mark>), its level as a colour,
// and a link to the call tree when the line is JSON with a trace id.
import { h } from 'preact'
import htm from 'htm'
import type { Line } from './api'
import { marked, time } from './format'

const html = htm.bind(h)

export const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const
export type Level = typeof LEVELS[number]

const WORD = /\b(FATAL|CRIT(?:ICAL)?|ERROR|ERR|WARN(?:ING)?|INFO|DEBUG|TRACE)\b/i
const JSON_LEVEL = /"(?:level|severity|lvl)"\s*:\s*"([A-Za-z]+)"/

/** The line's level: a JSON level field, else the first level word; null when it names none. */
export function levelOf (text: string): Level | null {
  const word = (JSON_LEVEL.exec(text) ?? WORD.exec(text))?.[1].toLowerCase()
  if (word === undefined) return null
  if (word.startsWith('crit') || word === 'fatal') return 'fatal'
  if (word.startsWith('err')) return 'error'
  if (word.startsWith('warn')) return 'warn'
  return (LEVELS as readonly string[]).includes(word) ? word as Level : null
}

export function traceOf (text: string): string | null {
  return /"(?:x_)?trace_id"\s*:\s*"([^"\\]{1,200})"/.exec(text)?.[1] ?? null
}

export interface RowProps {
  line: Line
  match?: [number, number] | null
  anchor?: boolean
  /** Shows where the line is as a link to the lines around it. */
  context?: (l: Line) => void
  trace: (id: string) => void
}

export function LineRow ({ line, match = null, anchor = false, context, trace }: RowProps) {
  const level = levelOf(line.text)
  const id = traceOf(line.text)
  const at = `${line.source}@${line.cursor}`
  const cls = ['line', anchor ? 'anchor' : '', level ? `lvl-${level}` : ''].filter(Boolean).join(' ')
  return html`<li class=${cls}>
    <span class="ts">${time(line.ts)}</span>
    ${context
      ? html`<a class="src" href="#" title="lines around this one"
          onClick=${(e: Event) => { e.preventDefault(); context(line) }}>${at}</a>`
      : html`<span class="cur">${line.cursor}</span>`}
    <span class="text">${marked(line.text, match)}</span>
    ${id ? html`<a class="trace" href="#" title="the call tree of this trace"
      onClick=${(e: Event) => { e.preventDefault(); trace(id) }}>trace ${id}</a>` : null}
  </li>`
}
