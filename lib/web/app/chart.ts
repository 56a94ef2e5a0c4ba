// Charts of metric queries, drawn by uPlot on a canvas: a time series per label set (legend with the labels), or
// one bar per series of an instant vector (topk, bottomk). A click reports the point under the pointer.
import { h } from 'preact'
import { useEffect, useMemo, useRef } from 'preact/hooks'
import htm from 'htm'
import uPlot from 'uplot'

const html = htm.bind(h)
const HEIGHT = 260
const COLOURS = ['#0366d6', '#d73a49', '#28a745', '#f66a0a', '#6f42c1', '#b08800', '#0598bc', '#ea4aaa']
export const colour = (i: number): string => COLOURS[i % COLOURS.length]

/** A chart's points: x values (s since the epoch, or bar numbers), and each series' values (null: none there). */
export interface Plot { xs: number[], series: Array<{ label: string, values: Array<number | null>, colour?: string }> }

/** Where a click landed: the x index and the series (0-based) nearest to the pointer that has a value there. */
export type Pick = (idx: number, series: number) => void

/** The point nearest to (left, top) that holds a value: nearest x with one, then nearest series by value. */
function nearest (u: uPlot, plot: Plot, left: number, top: number): [number, number] | null {
  const at = u.posToIdx(left)
  const y = u.posToVal(top, 'y')
  const has = (i: number): boolean => plot.series.some(s => s.values[i] != null)
  for (let d = 0; d < plot.xs.length; d++) {
    const i = [at - d, at + d].find(j => j >= 0 && j < plot.xs.length && has(j))
    if (i === undefined) continue
    let best = -1
    plot.series.forEach((s, k) => {
      const v = s.values[i]
      if (v != null && (best < 0 || Math.abs(v - y) < Math.abs(plot.series[best].values[i]! - y))) best = k
    })
    return [i, best]
  }
  return null
}

function UPlot ({ opts, plot, pick }: { opts: Omit<uPlot.Options, 'width' | 'height'>, plot: Plot, pick: Pick }) {
  const el = useRef<HTMLDivElement>(null)
  // The chart is made once per plot; a click calls the pick of the latest render.
  const picked = useRef(pick)
  picked.current = pick
  useEffect(() => {
    const root = el.current
    if (!root) return
    const data = [plot.xs, ...plot.series.map(s => s.values)] as uPlot.AlignedData
    const u = new uPlot({ ...opts, width: Math.max(300, root.clientWidth), height: HEIGHT }, data, root)
    u.over.addEventListener('click', (e: MouseEvent) => {
      const p = nearest(u, plot, e.offsetX, e.offsetY)
      if (p) picked.current(p[0], p[1])
    })
    return () => u.destroy()
  }, [plot])
  return html`<div class="uplot-host" ref=${el}></div>`
}

export function TimeChart ({ plot, pick }: { plot: Plot, pick: Pick }) {
  const opts = {
    series: [{}, ...plot.series.map((s, i) =>
      ({ label: s.label, stroke: s.colour ?? colour(i), width: 1.5, spanGaps: false }))],
    cursor: { points: { size: 6 } },
    legend: { live: true },
  }
  return html`<figure class="chart time-chart"><${UPlot} opts=${opts} plot=${plot} pick=${pick} />
    <figcaption class="muted">click a point for the lines behind it</figcaption></figure>`
}

export function BarChart ({ plot, pick }: { plot: Plot, pick: Pick }) {
  const names = plot.series.map(s => s.label)
  // One series of bars, one bar per label set, at x = 0, 1, ...
  const bars: Plot = useMemo(() => ({
    xs: names.map((_, i) => i),
    series: [{ label: 'value', values: plot.series.map(s => s.values[0]) }],
  }), [plot])
  const opts = {
    scales: {
      x: { time: false, range: (): [number, number] => [-0.5, names.length - 0.5] },
      // Bars start at zero, or their heights would not compare.
      y: { range: (_: uPlot, lo: number, hi: number): [number, number] => [Math.min(0, lo), Math.max(1, hi) * 1.1] },
    },
    axes: [{ splits: () => bars.xs, values: (_: uPlot, ticks: number[]) => ticks.map(i => names[i] ?? '') }, {}],
    series: [{}, { label: 'value', fill: colour(0), stroke: colour(0), paths: uPlot.paths.bars!({ size: [0.6] }) }],
    legend: { show: false },
  }
  return html`<figure class="chart bar-chart"><${UPlot} opts=${opts} plot=${bars}
      pick=${(i: number) => pick(0, i)} />
    <ol class="bar-labels">${names.map((n, i) => html`<li key=${n}>
      <span class="name">${n}</span> <b>${bars.series[0].values[i]}</b></li>`)}</ol>
  </figure>`
}
