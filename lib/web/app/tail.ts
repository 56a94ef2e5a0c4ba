// Feature 4: live tail of a source or a glob. Lines are taken from the stream into a queue and shown in batches a
// few times a second, at most RATE per second (the rest counted as skipped, so a flood cannot freeze the tab),
// and the list keeps the last MAX_SHOWN lines. Paused, lines are kept (up to MAX_SHOWN) and counted.
import { h } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import htm from 'htm'
import type { Line } from './api'
import { follow } from './follow'
import { LineRow } from './line'

const html = htm.bind(h)

export const MAX_SHOWN = 2000
const FLUSH_MS = 250
const RATE = 4000
const PER_FLUSH = RATE * FLUSH_MS / 1000

interface Props {
  token: string
  name: string
  paused: boolean
  setPaused: (p: boolean) => void
  fail: (err: unknown) => void
  context: (l: Line) => void
  trace: (id: string) => void
}

export function TailView ({ token, name, paused, setPaused, fail, context, trace }: Props) {
  const [shown, setShown] = useState<Line[]>([])
  const [held, setHeld] = useState(0)
  const [skipped, setSkipped] = useState(0)
  const [filter, setFilter] = useState('')
  const queue = useRef<Line[]>([])
  const pausedRef = useRef(paused)
  pausedRef.current = paused

  useEffect(() => {
    setShown([])
    setSkipped(0)
    queue.current = []
    const abort = new AbortController()
    follow(token, name, 50, abort.signal, lines => { queue.current.push(...lines) })
      .catch((err: Error) => { if (!abort.signal.aborted) fail(err) })
    const timer = setInterval(() => {
      const q = queue.current
      if (pausedRef.current) {
        // Kept for the resume, up to what the list shows; older ones are counted as skipped.
        if (q.length > MAX_SHOWN) { setSkipped(n => n + q.length - MAX_SHOWN); q.splice(0, q.length - MAX_SHOWN) }
        setHeld(q.length)
        return
      }
      if (q.length === 0) return
      const take = q.splice(0, PER_FLUSH)
      if (q.length > PER_FLUSH * 4) { setSkipped(n => n + q.length); q.length = 0 }
      setHeld(0)
      setShown(s => [...s, ...take].slice(-MAX_SHOWN))
    }, FLUSH_MS)
    return () => { abort.abort(); clearInterval(timer) }
  }, [token, name])

  const needle = filter.toLowerCase()
  const visible = needle ? shown.filter(l => l.text.toLowerCase().includes(needle)) : shown
  return html`<div class="tail">
    <p class="controls">
      <b>${name}</b>
      <button class="pause" onClick=${() => setPaused(!paused)}>${paused ? 'resume' : 'pause'}</button>
      ${paused ? html`<span class="held">${held} new line${held === 1 ? '' : 's'} while paused</span>` : null}
      ${skipped > 0 ? html`<span class="skipped">${skipped} lines skipped</span>` : null}
      <input class="filter" placeholder="filter" value=${filter}
        onInput=${(e: Event) => setFilter((e.target as HTMLInputElement).value)} />
    </p>
    <ol class="lines">${visible.map(l => html`<${LineRow} key=${l.source + l.cursor + l.text} line=${l} trace=${trace}
      context=${l.cursor ? context : undefined} />`)}</ol>
  </div>`
}
