// The comparison benchmark: `npm run bench -- --quick` (a smoke run, under 3 minutes) or `npm run bench` (full);
// `--targets a,b` runs only some targets, `--repeat N` gives medians of N interleaved rounds, `--flush-interval D`
// sets the writeback target's flush interval, `--against DIR` adds the logfs targets of the build in DIR (old and
// new in one run, see targets.ts). The full run (or `--loss` with --quick) ends with the loss window of an agent
// SIGKILL in both cache modes, with and without the handover (bench/killrun.ts). Every workload runs against every
// target on this machine, one after the other, so targets compare within one run (ratios), not across runs on a
// noisy machine; see docs/benchmarks.md. Output: the headline figures (bench/figures.ts) and every row as Markdown
// on stdout, and .md, .json and .svg under bench/results/.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { ROOT, cleanUp, fail, machine, machineLine, saveResults } from './harness'
import { TARGETS, unavailable, type TargetName } from './targets'
import { workloads } from './workloads'
import { measure } from './measure'
import { failures, fillCeilingRatios, table } from './report'
import { figures } from './figures'
import { chart } from './chart'
import { mergeRounds } from './repeat'
import type { Row } from './row'
import { killRun, killServer, lossTable, type KillRunResult } from './killrun'

const quick = process.argv.includes('--quick')
const only = (flag: string): string[] | null => {
  const i = process.argv.indexOf(flag)
  return i > 0 ? process.argv[i + 1].split(',') : null
}

const ABOUT = 'Same machine, one run after another: compare targets within this run. ' +
  '÷ C null FS: app write()/s over bench/cfuse/nullfs.c\'s in the same workload (as-fast-as-possible rows). ' +
  'Delivered: durable on the logfs server (its follow stream), acknowledged by the discarding sink ' +
  '(logfs-mount), or received over TCP (rsyslog); delivered lines/s count from the first line made to the last ' +
  'line arrived. Agent: all processes of the logfs agent (supervisor, agent, children), the C null FS, or ' +
  'rsyslogd; RSS is the highest sampled sum of VmRSS. Ring in use: from the agent\'s /metrics, watched in the ' +
  'idle and 10 MB/s rows only. write() quantiles: the worst writer\'s.'

const LOSS = { kinds: ['SIGKILL', 'SIGKILL', 'SIGKILL'] as const, gapMs: 6000, writers: 2, rate: 500 }
const LOSS_ABOUT = `Loss window: ${LOSS.kinds.length} agent SIGKILLs ${LOSS.gapMs / 1000} s apart under ` +
  `${LOSS.writers} writers that never reopen their file (${LOSS.writers * LOSS.rate} lines/s in all), supervised ` +
  'mounts; lost: ' +
  'lines whose write() succeeded and that never arrived.'

/** Both cache modes, with and without the handover, each under the same kills, one after the other. */
async function lossWindow (): Promise<KillRunResult[]> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'logfs-loss-'))
  const server = await killServer(tmp)
  const out: KillRunResult[] = []
  try {
    for (const cache of ['writethrough', 'writeback'] as const) {
      for (const handover of [true, false]) {
        process.stderr.write(`bench: loss window, ${cache}, ${handover ? 'handover' : 'no-handover'}\n`)
        out.push(await killRun({ ...LOSS, kinds: [...LOSS.kinds], cache, handover }, server.port, tmp))
      }
    }
  } finally {
    await server.stop()
    fs.rmSync(tmp, { recursive: true, force: true })
  }
  return out
}

async function main (): Promise<void> {
  const chosen = (only('--targets') as TargetName[] | null) ?? TARGETS
  const unknown = chosen.filter(t => !TARGETS.includes(t))
  if (unknown.length) throw new Error(`--targets: unknown ${unknown.join(', ')} (known: ${TARGETS.join(', ')})`)
  const skipped = new Map<TargetName, string>()
  for (const t of chosen) {
    const why = unavailable(t)
    if (why) skipped.set(t, why)
  }
  const targets = chosen.filter(t => !skipped.has(t))
  for (const [t, why] of skipped) process.stderr.write(`bench: skipping ${t}: ${why}\n`)
  const repeat = Number(only('--repeat')?.[0] ?? 1)
  if (!Number.isInteger(repeat) || repeat < 1) throw new Error('--repeat: a whole number of rounds, 1 or more')
  const startLine = machineLine()
  const buildDir = fs.mkdtempSync(path.join(os.tmpdir(), 'logfs-cmp-build-'))
  // Targets of one workload run back to back (and rounds interleaved), so what is compared ran close in time.
  const rounds = Array.from({ length: repeat }, (_, i) => i + 1)
  const plan = workloads(quick).flatMap(wl => wl.writers.flatMap(w => rounds.flatMap(round =>
    targets.filter(t => !wl.targets || wl.targets.includes(t)).map(t => ({ wl, w, t, round })))))
  const all: Row[] = []
  const runErrors: string[] = []
  const started = Date.now()
  for (const [i, { wl, w, t, round }] of plan.entries()) {
    const elapsed = Math.round((Date.now() - started) / 1000)
    const of = repeat > 1 ? ` (round ${round}/${repeat})` : ''
    process.stderr.write(`bench [${i + 1}/${plan.length}, ${elapsed} s] ${wl.name} x${w} -> ${t}${of}\n`)
    try {
      const row = await measure(wl, w, t, buildDir)
      for (const p of failures([row])) process.stderr.write(`bench: ${p}\n`)
      all.push(row)
    } catch (err) {
      // One failed run (a hung mount, an agent that would not start) fails the benchmark but does not cost the
      // other runs' results; what it left running is ended first.
      const what = `${wl.name} ×${w} → ${t}: ${(err as Error).message}`
      process.stderr.write(`bench: ${what}\n`)
      runErrors.push(what)
      cleanUp()
    }
  }
  fs.rmSync(buildDir, { recursive: true, force: true })
  const loss = !quick || process.argv.includes('--loss') ? await lossWindow() : null
  const rows = mergeRounds(all)
  fillCeilingRatios(rows)
  const problems = [...runErrors, ...failures(rows)]
  const notes = [
    ...[...skipped].map(([t, why]) => `- ${t} skipped: ${why}`),
    ...problems.map(p => `- FAILED ${p}`),
  ]
  const medians = repeat > 1 ? `, medians of ${repeat} rounds` : ''
  const text = `logfs comparison (${quick ? 'quick' : 'full'}${medians}), ${new Date().toISOString()}\n` +
    `${startLine} at start, ${os.loadavg().map(l => l.toFixed(2)).join(' ')} at end\n${ABOUT}\n\n` +
    `${figures(rows, skipped, TARGETS)}\n\n${table(rows)}\n` +
    (loss ? `\n${LOSS_ABOUT}\n\n${lossTable(loss)}\n` : '') +
    (notes.length ? `\n${notes.join('\n')}\n` : '')
  process.stdout.write('\n' + text)
  const json = { machine: machine(), quick, repeat, skipped: Object.fromEntries(skipped), problems, rows, loss }
  const base = saveResults('compare', text, json)
  fs.writeFileSync(`${base}.svg`, chart(rows, startLine))
  const seconds = Math.round((Date.now() - started) / 1000)
  process.stderr.write(`bench: results in ${path.relative(ROOT, base)}.{md,json,svg} (${seconds} s)\n`)
  if (problems.length) process.exitCode = 1
}

if (require.main === module) main().catch(fail)
