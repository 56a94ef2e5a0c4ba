// Feature 6, second half: bytes written over the search's time range, one bar per bucket; a click narrows the
// search to that bucket.
import { h } from 'preact'
import htm from 'htm'
import type { Histogram } from './api'
import { size, time } from './format'

const html = htm.bind(h)
const WIDTH = 600
const HEIGHT = 60

export function HistogramBars ({ data, zoom }: { data: Histogram | null, zoom: (from: number, to: number) => void }) {
  if (data === null || data.bytes.length === 0) return null
  const max = Math.max(1, ...data.bytes)
  const w = WIDTH / data.bytes.length
  return html`<figure class="histogram">
    <svg width=${WIDTH} height=${HEIGHT} role="img" aria-label="bytes written over time">
      ${data.bytes.map((b, i) => {
        const from = data.from + i * data.step
        const hgt = b === 0 ? 0 : Math.max(1, Math.round(b / max * HEIGHT))
        return html`<rect class="bar" x=${i * w} y=${HEIGHT - hgt} width=${Math.max(1, w - 1)} height=${hgt}
          data-from=${from} onClick=${() => zoom(from, from + data.step - 1)}>
          <title>${time(from)}: ${size(b)}</title></rect>`
      })}
    </svg>
    <figcaption class="muted">${time(data.from)} – ${time(data.to)}; click a bar to zoom</figcaption>
  </figure>`
}
