// Following a source or a glob: /v1/tail?follow=1 is Server-Sent Events, read here with fetch (EventSource cannot
// send the token in a header, and a token in a URL ends up in logs).
import { Unauthorized, type Line } from './api'

export const isGlob = (name: string): boolean => /[*?[]/.test(name)

/** Calls `onLines` with each event's lines until `signal` aborts; rejects on a refused token or a lost stream. */
export async function follow (token: string, name: string, backlog: number, signal: AbortSignal,
  onLines: (lines: Line[]) => void): Promise<void> {
  const q = isGlob(name)
    ? new URLSearchParams({ glob: name, follow: '1' })
    : new URLSearchParams({ source: name, lines: String(backlog), follow: '1' })
  const res = await fetch(`/v1/tail?${q}`, { headers: { authorization: `Bearer ${token}` }, signal })
  if (res.status === 401) throw new Unauthorized('wrong token')
  if (!res.ok || !res.body) throw new Error(((await res.json()) as { error?: string }).error ?? `HTTP ${res.status}`)
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
  let buf = ''
  for (;;) {
    const { value, done } = await reader.read()
    if (done) throw new Error('the server ended the stream')
    buf += value
    for (let end = buf.indexOf('\n\n'); end >= 0; end = buf.indexOf('\n\n')) {
      const block = buf.slice(0, end)
      buf = buf.slice(end + 2)
      const event = /^event: (.*)$/m.exec(block)?.[1]
      const data = /^data: (.*)$/m.exec(block)?.[1]
      if (data === undefined) continue
      const line = JSON.parse(data) as Line
      // `lines` (a glob): consecutive whole lines of one source in one event; the first has the cursor.
      if (event === 'lines') {
        onLines(line.text.split('\n').map((text, i) => ({ ...line, text, cursor: i === 0 ? line.cursor : '' })))
      } else if (event === 'line') {
        onLines([line])
      } else if (event === 'error') {
        throw new Error((JSON.parse(data) as { error: string }).error)
      }
    }
  }
}
