// Agent restarts: `npm run bench:restart` (about 2 minutes; `-- --events N` for fewer). Two supervised mounts in
// one run, side by side: with the handover (the default, issue 12) and with --no-handover (every restart mounts
// again, as before). Each gets writers that open their file once and never reopen it (bench/steadywriter.ts),
// 1,000 lines/s in all, while its agent is killed with SIGKILL five times and upgraded (SIGHUP to the supervisor)
// twice, 6 s apart (longer than the supervisor's crash-loop window). Printed: per event, how long until a new
// agent served the mount; per mode, the application's failed writes, lines lost (accepted by write() and never
// stored), lines stored twice, and the longest and p99 write() call.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { ROOT, fail, machineLine, readSource, start, until } from './harness'
import { runSteady, steadyLine, type SteadyResult } from './steadywriter'

const eventsArg = process.argv.indexOf('--events')
const EVENTS = eventsArg > 0 ? Number(process.argv[eventsArg + 1]) : 7
/** The events in order: upgrades at the third and the last place, SIGKILLs elsewhere. */
const KINDS = Array.from({ length: EVENTS },
  (_, i) => i === 2 || (i === EVENTS - 1 && EVENTS > 3) ? 'upgrade' : 'SIGKILL')
const GAP_MS = 6000
const WRITERS = 2
const RATE = 500

interface ModeResult {
  mode: string
  backMs: number[]
  writers: SteadyResult[]
  lost: number
  duplicated: number
}

async function runMode (mode: 'handover' | 'no-handover', port: number, tmp: string): Promise<ModeResult> {
  const mnt = path.join(tmp, `mnt-${mode}`)
  fs.mkdirSync(mnt)
  const node = `bench-${mode}`
  const agent = start(['mount', mnt, '--server', `ws://127.0.0.1:${port}`, '--json', '--node', node,
    '--state-dir', path.join(tmp, `state-${mode}`), ...(mode === 'handover' ? [] : ['--no-handover'])])
  const mounts = (): Array<Record<string, unknown>> => agent.events.filter(e => e.event === 'mounted')
  await until(() => mounts()[0], 'mount', 30_000)
  fs.mkdirSync(path.join(mnt, 'app'))
  const lines = Math.ceil(((EVENTS + 1) * GAP_MS / 1000) * RATE)
  const writers = Array.from({ length: WRITERS }, (_, w) => runSteady(path.join(mnt, `app/w${w}.log`), lines, RATE, w))
  const backMs: number[] = []
  for (const [k, kind] of KINDS.entries()) {
    await new Promise(resolve => setTimeout(resolve, GAP_MS))
    const before = mounts().length
    const at = Date.now()
    if (kind === 'upgrade') agent.proc.kill('SIGHUP')
    else process.kill(mounts()[before - 1].pid as number, 'SIGKILL')
    // Without a handover, SIGHUP does nothing: the agent serves on and the writers see no change.
    const back = kind === 'upgrade' && mode === 'no-handover' ? NaN
      : await until(() => mounts().length > before || undefined, 'a new agent', 30_000).then(() => Date.now() - at)
    backMs.push(back)
    process.stderr.write(`bench: ${mode}: ${kind} ${k + 1}/${EVENTS}: served again after ${back} ms\n`)
  }
  const results = await Promise.all(writers)
  agent.proc.kill('SIGTERM')
  await agent.exited
  let lost = 0
  let duplicated = 0
  for (const [w, r] of results.entries()) {
    const stored = new Map<string, number>()
    const pages: Buffer[] = []
    await readSource(port, `${node}/app/w${w}.log`, page => pages.push(page))
    for (const l of Buffer.concat(pages).toString().split('\n')) {
      if (l) stored.set(l, (stored.get(l) ?? 0) + 1)
    }
    for (const n of stored.values()) duplicated += n - 1
    // A line the application was told was written (write() succeeded) must be stored: the failed ones are
    // counted as write errors instead. The writer gives up nothing, so lines - failed were accepted.
    const accepted = r.lines - r.failed
    let found = 0
    for (let n = 0; n < r.lines; n++) if (stored.has(steadyLine(w, n).trimEnd())) found++
    lost += Math.max(0, accepted - found)
  }
  return { mode, backMs, writers: results, lost, duplicated }
}

async function main (): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'logfs-restart-'))
  const server = start(['server', '--json', '--data-dir', path.join(tmp, 'data'), '--listen', '127.0.0.1:0'])
  const port = (await until(() => server.events.find(e => e.event === 'listening'), 'server', 30_000)).port as number
  const modes: ModeResult[] = []
  for (const mode of ['handover', 'no-handover'] as const) modes.push(await runMode(mode, port, tmp))
  server.proc.kill('SIGTERM')
  await server.exited
  fs.rmSync(tmp, { recursive: true, force: true })

  const sum = (f: (r: SteadyResult) => number, m: ModeResult): number => m.writers.reduce((n, r) => n + f(r), 0)
  const max = (f: (r: SteadyResult) => number, m: ModeResult): number => Math.max(...m.writers.map(f))
  const ms = (n: number): string => Number.isNaN(n) ? '– (no-op)' : String(n)
  const eventRows = KINDS.map((kind, i) => `| ${i + 1} | ${kind} | ${modes.map(m => ms(m.backMs[i])).join(' | ')} |`)
  const modeRows = modes.map(m => `| ${m.mode} | ${sum(r => r.lines, m)} | ${sum(r => r.failed, m)} | ${m.lost} | ` +
    `${m.duplicated} | ${max(r => r.maxMs, m).toFixed(0)} | ${max(r => r.p99ms, m).toFixed(1)} |`)
  const text = `logfs agent restarts: ${KINDS.filter(k => k === 'SIGKILL').length} × SIGKILL and ` +
    `${KINDS.filter(k => k === 'upgrade').length} × upgrade (SIGHUP), ${GAP_MS / 1000} s apart, under ${WRITERS} ` +
    `writers that never reopen their file (${WRITERS * RATE} lines/s in all); supervised mounts\n${machineLine()}\n\n` +
    `| event | kind | handover: served again after ms | no-handover: served again after ms |\n|---|---|---|---|\n` +
    `${eventRows.join('\n')}\n\n` +
    '| mode | lines written | failed write() calls | lines lost | lines duplicated | longest write() ms | ' +
    `p99 write() ms |\n|---|---|---|---|---|---|---|\n${modeRows.join('\n')}\n\n` +
    'no-handover: SIGHUP does nothing; lost counts lines whose write() succeeded and that never arrived.\n'
  process.stdout.write('\n' + text)
  const dir = path.join(ROOT, 'bench/results')
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(path.join(dir, `restart-${new Date().toISOString().replace(/[:.]/g, '-')}.md`), text)
}

main().catch(fail)
