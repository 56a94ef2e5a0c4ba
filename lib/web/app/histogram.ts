// Feature 6, second half: lines written over the search's time range, one bar per bucket, its lines stacked by
// level (fatal at the bottom, lines with no level word on top); a click narrows the search to that bucket.
import { h } from 'preact'
import htm from 'htm'
import type { Histogram } from './api'
import { size, time } from './format'
import { LEVELS } from './line'

const html = htm.bind(h)
const WIDTH = 600
const HEIGHT = 60

export function HistogramBars ({ data, zoom }: { data: Histogram | null, zoom: (from: number, to: number) => void }) {
  if (data === null || data.bytes.length === 0) return null
  // Bars are as tall as their lines; data with no newline at all is drawn by its bytes.
  const counted = data.lines.some(n => n > 0)
  const heightOf = counted ? data.lines : data.bytes
  const max = Math.max(1, ...heightOf)
  const scale = (n: number): number => n / max * HEIGHT
  const w = WIDTH / data.bytes.length
  const totals = LEVELS.map(l => [l, data.levels[l].reduce((a, b) => a + b, 0)] as const).filter(([, n]) => n > 0)
  return html`<figure class="histogram">
    <svg width=${WIDTH} height=${HEIGHT} role="img" aria-label="lines written over time, by level">
      ${data.bytes.map((b, i) => {
        const from = data.from + i * data.step
        const hgt = heightOf[i] === 0 ? 0 : Math.max(1, Math.round(scale(heightOf[i])))
        let y = HEIGHT
        const segs = counted
          ? LEVELS.filter(l => data.levels[l][i] > 0).map(l => {
            const sh = Math.max(1, Math.round(scale(data.levels[l][i])))
            y -= sh
            return html`<rect class=${`seg lvl-${l}`} x=${i * w} y=${y} width=${Math.max(1, w - 1)} height=${sh}
              data-count=${data.levels[l][i]} />`
          })
          : []
        const levels = LEVELS.filter(l => data.levels[l][i] > 0).map(l => `, ${l} ${data.levels[l][i]}`).join('')
        return html`<g key=${from}><rect class="bar" x=${i * w} y=${HEIGHT - hgt} width=${Math.max(1, w - 1)}
          height=${hgt} data-from=${from} onClick=${() => zoom(from, from + data.step - 1)}>
          <title>${time(from)}: ${size(b)}, ${data.lines[i]} lines${levels}</title></rect>${segs}</g>`
      })}
    </svg>
    <figcaption class="muted">${time(data.from)} – ${time(data.to)}; click a bar to zoom
      ${totals.map(([l, n]) => html` <span class=${`legend lvl-${l}`}>${l} ${n}</span>`)}</figcaption>
  </figure>`
}
