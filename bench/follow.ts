// How lines reach the collector from a logfs server: its follow stream (Server-Sent Events), which sends each line
// once the store has made it durable, so arrival here is "durable on the server" plus one loopback hop.
import type { Collector } from './collector'
import { TOKEN } from './harness'

/**
 * Feeds every new line of every source on a logfs server (or of those `glob` matches) to the collector, from now
 * on; returns the stop.
 */
export async function follow (port: number, collector: Collector, glob = '**'): Promise<() => void> {
  const ac = new AbortController()
  const res = await fetch(`http://127.0.0.1:${port}/v1/tail?glob=${encodeURIComponent(glob)}&follow=1`,
    { headers: { authorization: `Bearer ${TOKEN}` }, signal: ac.signal })
  const reader = (res.body as ReadableStream<Uint8Array>).getReader()
  const decoder = new TextDecoder()
  void (async () => {
    let buf = ''
    try {
      for (;;) {
        const { value, done } = await reader.read()
        if (done) return
        buf += decoder.decode(value, { stream: true })
        let end
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const event = buf.slice(0, end)
          buf = buf.slice(end + 2)
          if (event.startsWith('event: lines\ndata: ')) {
            const { text } = JSON.parse(event.slice(19)) as { text: string }
            collector.chunk(text + '\n')
          }
        }
      }
    } catch {}
  })()
  return () => ac.abort()
}
