// Feature 7 and 8: download the shown lines; wrap, timestamps and dark theme toggles (kept in localStorage; keys
// w, t, d; / focuses the search, space pauses a tail); and a box to start a live tail.
import { h } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import htm from 'htm'

const html = htm.bind(h)
const KEY = 'logfs-settings'

export interface Settings { wrap: boolean, timestamps: boolean, dark: boolean }

export function useSettings (): [Settings, (s: Settings) => void] {
  const initial = { wrap: true, timestamps: true, dark: matchMedia('(prefers-color-scheme: dark)').matches }
  const [s, set] = useState<Settings>(() => ({ ...initial, ...JSON.parse(localStorage.getItem(KEY) ?? '{}') }))
  useEffect(() => {
    localStorage.setItem(KEY, JSON.stringify(s))
    document.documentElement.dataset.theme = s.dark ? 'dark' : 'light'
  }, [s])
  return [s, set]
}

/** The text of the lines on the page, one per line, as a file. */
export function downloadShown (): void {
  const lines = [...document.querySelectorAll('ol.lines li .text')].map(e => e.textContent ?? '')
  const url = URL.createObjectURL(new Blob([lines.join('\n') + (lines.length ? '\n' : '')], { type: 'text/plain' }))
  const a = document.createElement('a')
  a.href = url
  a.download = 'logfs-lines.txt'
  a.click()
  setTimeout(() => URL.revokeObjectURL(url), 10_000)
}

export function Toolbar ({ settings, set, download, tail }: {
  settings: Settings, set: (s: Settings) => void, download: () => void, tail: (name: string) => void
}) {
  const flip = (k: keyof Settings) => () => set({ ...settings, [k]: !settings[k] })
  const follow = (e: Event): void => {
    e.preventDefault()
    const name = String(new FormData(e.target as HTMLFormElement).get('tail') ?? '').trim()
    if (name) tail(name)
  }
  return html`<div class="toolbar">
    <form class="follow" onSubmit=${follow}><input name="tail" placeholder="tail source or glob" />
      <button type="submit">tail</button></form>
    <label><input type="checkbox" class="wrap" checked=${settings.wrap} onChange=${flip('wrap')} /> wrap</label>
    <label><input type="checkbox" class="timestamps" checked=${settings.timestamps} onChange=${flip('timestamps')} />
      times</label>
    <label><input type="checkbox" class="dark" checked=${settings.dark} onChange=${flip('dark')} /> dark</label>
    <button class="download" onClick=${download}>download</button>
  </div>`
}
