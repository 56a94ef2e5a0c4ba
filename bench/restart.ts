// Agent restarts: `npm run bench:restart` (about 2 minutes; `-- --events N` for fewer). Two supervised mounts in
// one run, side by side: with the handover (the default) and with --no-handover (every restart mounts
// again, as before). Each gets writers that open their file once and never reopen it (bench/steadywriter.ts),
// 1,000 lines/s in all, while its agent is killed with SIGKILL five times and upgraded (SIGHUP to the supervisor)
// twice, 6 s apart (longer than the supervisor's crash-loop window). Printed: per event, how long until a new
// agent served the mount; per mode, the application's failed writes, lines lost (accepted by write() and never
// stored), lines stored twice, and the longest and p99 write() call.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fail, machineLine, saveResults } from './harness'
import { killRun, killServer, lossTable, type KillKind, type KillRunResult } from './killrun'

const eventsArg = process.argv.indexOf('--events')
const EVENTS = eventsArg > 0 ? Number(process.argv[eventsArg + 1]) : 7
/** The events in order: upgrades at the third and the last place, SIGKILLs elsewhere. */
const KINDS: KillKind[] = Array.from({ length: EVENTS },
  (_, i) => i === 2 || (i === EVENTS - 1 && EVENTS > 3) ? 'upgrade' : 'SIGKILL')
const GAP_MS = 6000
const WRITERS = 2
const RATE = 500

async function main (): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'logfs-restart-'))
  const server = await killServer(tmp)
  const modes: KillRunResult[] = []
  for (const handover of [true, false]) {
    const o = { handover, cache: 'writethrough' as const, kinds: KINDS, gapMs: GAP_MS, writers: WRITERS, rate: RATE }
    modes.push(await killRun(o, server.port, tmp))
  }
  await server.stop()
  fs.rmSync(tmp, { recursive: true, force: true })

  const ms = (n: number): string => Number.isNaN(n) ? '– (no-op)' : String(n)
  const eventRows = KINDS.map((kind, i) => `| ${i + 1} | ${kind} | ${modes.map(m => ms(m.backMs[i])).join(' | ')} |`)
  const text = `logfs agent restarts: ${KINDS.filter(k => k === 'SIGKILL').length} × SIGKILL and ` +
    `${KINDS.filter(k => k === 'upgrade').length} × upgrade (SIGHUP), ${GAP_MS / 1000} s apart, under ${WRITERS} ` +
    `writers that never reopen their file (${WRITERS * RATE} lines/s in all); supervised mounts\n${machineLine()}\n\n` +
    `| event | kind | handover: served again after ms | no-handover: served again after ms |\n|---|---|---|---|\n` +
    `${eventRows.join('\n')}\n\n` +
    `${lossTable(modes)}\n\n` +
    'no-handover: SIGHUP does nothing; lost counts lines whose write() succeeded and that never arrived.\n'
  process.stdout.write('\n' + text)
  saveResults('restart', text)
}

main().catch(fail)
