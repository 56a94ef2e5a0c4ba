// One supervised mount under writers that never reopen their file (bench/steadywriter.ts) while its agent is
// killed (SIGKILL) or upgraded (SIGHUP to the supervisor) at fixed gaps; then every writer's lines are looked up on
// the server. Shared by `npm run bench:restart` and the loss-window rows of `npm run bench`.
import fs from 'node:fs'
import path from 'node:path'
import { readSource, start, until } from './harness'
import { runSteady, steadyLine, type SteadyResult } from './steadywriter'

export type KillKind = 'SIGKILL' | 'upgrade'

export interface KillRunOptions {
  handover: boolean
  cache: 'writethrough' | 'writeback'
  kinds: KillKind[]
  gapMs: number
  writers: number
  /** Lines per second of each writer. */
  rate: number
}

export interface KillRunResult {
  mode: string
  /** Per event, ms until a new agent served the mount; NaN where the event does nothing (SIGHUP, no handover). */
  backMs: number[]
  writers: SteadyResult[]
  /** Lines whose write() succeeded and that never arrived. */
  lost: number
  duplicated: number
}

export const modeName = (o: Pick<KillRunOptions, 'handover' | 'cache'>): string =>
  `${o.cache}, ${o.handover ? 'handover' : 'no-handover'}`

export async function killRun (o: KillRunOptions, port: number, tmp: string): Promise<KillRunResult> {
  const mode = modeName(o)
  const slug = mode.replace(/[^a-z-]+/g, '-')
  const mnt = path.join(tmp, `mnt-${slug}`)
  fs.mkdirSync(mnt)
  const node = `bench-${slug}`
  const agent = start(['mount', mnt, '--server', `ws://127.0.0.1:${port}`, '--json', '--node', node,
    '--state-dir', path.join(tmp, `state-${slug}`), '--cache', o.cache, ...(o.handover ? [] : ['--no-handover'])])
  const mounts = (): Array<Record<string, unknown>> => agent.events.filter(e => e.event === 'mounted')
  await until(() => mounts()[0], 'mount', 30_000)
  fs.mkdirSync(path.join(mnt, 'app'))
  const lines = Math.ceil(((o.kinds.length + 1) * o.gapMs / 1000) * o.rate)
  const writers = Array.from({ length: o.writers },
    (_, w) => runSteady(path.join(mnt, `app/w${w}.log`), lines, o.rate, w))
  const backMs: number[] = []
  for (const [k, kind] of o.kinds.entries()) {
    await new Promise(resolve => setTimeout(resolve, o.gapMs))
    const before = mounts().length
    const at = Date.now()
    if (kind === 'upgrade') agent.proc.kill('SIGHUP')
    else process.kill(mounts()[before - 1].pid as number, 'SIGKILL')
    // Without a handover, SIGHUP does nothing: the agent serves on and the writers see no change.
    const back = kind === 'upgrade' && !o.handover ? NaN
      : await until(() => mounts().length > before || undefined, 'a new agent', 30_000).then(() => Date.now() - at)
    backMs.push(back)
    process.stderr.write(`bench: ${mode}: ${kind} ${k + 1}/${o.kinds.length}: served again after ${back} ms\n`)
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

/** A logfs server for kill runs, stopped by the function it resolves with. */
export async function killServer (tmp: string): Promise<{ port: number, stop: () => Promise<void> }> {
  const server = start(['server', '--json', '--data-dir', path.join(tmp, 'data'), '--listen', '127.0.0.1:0'])
  const port = (await until(() => server.events.find(e => e.event === 'listening'), 'server', 30_000)).port as number
  return { port, stop: async () => { server.proc.kill('SIGTERM'); await server.exited } }
}

const sum = (f: (r: SteadyResult) => number, m: KillRunResult): number => m.writers.reduce((n, r) => n + f(r), 0)
const max = (f: (r: SteadyResult) => number, m: KillRunResult): number => Math.max(...m.writers.map(f))

/** Per mode: lines written, failed write() calls, lines lost and duplicated, the longest and p99 write(). */
export function lossTable (results: KillRunResult[]): string {
  const rows = results.map(m => `| ${m.mode} | ${sum(r => r.lines, m)} | ${sum(r => r.failed, m)} | ${m.lost} | ` +
    `${m.duplicated} | ${max(r => r.maxMs, m).toFixed(0)} | ${max(r => r.p99ms, m).toFixed(1)} |`)
  return '| mode | lines written | failed write() calls | lines lost | lines duplicated | longest write() ms | ' +
    `p99 write() ms |\n|---|---|---|---|---|---|---|\n${rows.join('\n')}`
}
