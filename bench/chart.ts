// An SVG bar chart of a comparison run: write() calls per second as the application sees them, and end-to-end
// lines per second where lines are delivered, one group of bars per workload and writer count.
import type { Row } from './row'

const COLORS: Record<string, string> = {
  'local-disk': '#9e9e9e',
  'c-fuse': '#5c6bc0',
  'logfs-mount': '#26a69a',
  logfs: '#00897b',
  'logfs-writeback': '#004d40',
  rsyslog: '#ef6c00',
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;')

export function chart (all: Row[], machine: string): string {
  // Idle rows write nothing: no bars.
  const rows = all.flatMap(r => r.appWritesPerSec === null ? [] : [{ ...r, appWritesPerSec: r.appWritesPerSec }])
  const groups = [...new Set(rows.map(r => `${r.workload} ×${r.writers}`))]
  const barH = 14
  const left = 260
  const width = 980
  const fastest = Math.max(1, ...rows.filter(r => r.target !== 'local-disk').map(r => r.appWritesPerSec))
  const scale = (width - left - 150) / fastest
  const out: string[] = []
  let y = 50
  for (const g of groups) {
    out.push(`<text x="10" y="${y + 10}" font-weight="bold">${esc(g)}</text>`)
    y += 18
    for (const r of rows.filter(x => `${x.workload} ×${x.writers}` === g)) {
      const w = Math.min(width - left - 150, r.appWritesPerSec * scale)
      const offScale = r.target === 'local-disk' && w >= width - left - 150 ? ' (off scale)' : ''
      out.push(`<text x="20" y="${y + 11}">${esc(r.target)} writes/s</text>`,
        `<rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${COLORS[r.target]}"/>`,
        `<text x="${left + w + 4}" y="${y + 11}">${r.appWritesPerSec}${offScale}</text>`)
      y += barH + 3
      if (r.e2eLinesPerSec !== null) {
        const e = Math.min(width - left - 150, r.e2eLinesPerSec * scale)
        out.push(`<text x="20" y="${y + 11}" fill="#555">${esc(r.target)} e2e lines/s</text>`,
          `<rect x="${left}" y="${y}" width="${e.toFixed(1)}" height="${barH}" fill="${COLORS[r.target]}"` +
            ' fill-opacity="0.45"/>',
          `<text x="${left + e + 4}" y="${y + 11}" fill="#555">${r.e2eLinesPerSec}</text>`)
        y += barH + 3
      }
    }
    y += 12
  }
  const title = 'logfs comparison: write() calls/s seen by the application, and end-to-end lines/s'
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y + 10}" font-family="sans-serif" font-size="11">
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="20" font-size="14" font-weight="bold">${title}</text>
<text x="10" y="36" fill="#555">${esc(machine)}</text>
${out.join('\n')}
</svg>
`
}
