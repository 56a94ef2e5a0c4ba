// How values are shown: sizes, times, and a line's text with its match marked.
import { h, type VNode } from 'preact'

export function size (n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++ }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`
}

export function time (ms: number): string {
  return ms > 0 ? new Date(ms).toISOString().replace('T', ' ').replace('Z', '') : '–'
}

/** `text` with characters [from, to) inside <mark>. */
export function marked (text: string, match: [number, number] | null): Array<string | VNode> {
  if (!match || match[0] >= match[1]) return [text]
  return [text.slice(0, match[0]), h('mark', null, text.slice(match[0], match[1])), text.slice(match[1])]
}
