// A log writer that behaves as a well-made logger after its disk went away: on a failed write it reopens the
// path and retries the same line. Writes `lines` numbered lines with a pause between them; prints JSON with
// every outage it lived through (error and milliseconds until a write worked again).
import fs from 'node:fs'

const [file, linesText, delayText] = process.argv.slice(2)
const lines = Number(linesText)
const delayMs = Number(delayText)
const outages: Array<{ error: string, ms: number }> = []

async function main (): Promise<void> {
  let fd = fs.openSync(file, 'a')
  for (let n = 0; n < lines; n++) {
    const text = `line ${String(n).padStart(8, '0')} ${'x'.repeat(80)}\n`
    try {
      fs.writeSync(fd, text)
    } catch (err) {
      const failed = Date.now()
      try { fs.closeSync(fd) } catch {}
      for (;;) {
        await new Promise(resolve => setTimeout(resolve, 5))
        try { fd = fs.openSync(file, 'a'); fs.writeSync(fd, text); break } catch {}
      }
      outages.push({ error: (err as NodeJS.ErrnoException).code ?? String(err), ms: Date.now() - failed })
    }
    if (delayMs) await new Promise(resolve => setTimeout(resolve, delayMs))
  }
  fs.closeSync(fd)
  process.stdout.write(JSON.stringify({ lines, outages }) + '\n')
}

main().catch(err => { process.stderr.write(String(err) + '\n'); process.exit(1) })
