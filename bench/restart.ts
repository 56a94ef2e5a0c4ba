// Agent restarts: `npm run bench:restart`. A supervised logfs mount with a writer (reopening on error) writing
// into it; the agent is killed with SIGKILL five times. Per kill: how long until the mount was back, how long
// the application could not write, and (at the end) how many lines were lost with the killed agents' memory.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { ROOT, fail, get, machineLine, start, until } from './harness'

const KILLS = 5

async function main (): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'logfs-restart-'))
  const mnt = path.join(tmp, 'mnt')
  fs.mkdirSync(mnt)
  const server = start(['server', '--json', '--data-dir', path.join(tmp, 'data'), '--listen', '127.0.0.1:0'])
  const port = (await until(() => server.events.find(e => e.event === 'listening'), 'server', 30_000)).port as number
  const agent = start([
    'mount', mnt, '--server', `ws://127.0.0.1:${port}`, '--json', '--node', 'bench', '--state-dir', path.join(tmp, 'state'),
  ])
  const mounts = (): Array<Record<string, unknown>> => agent.events.filter(e => e.event === 'mounted')
  await until(() => mounts()[0], 'mount', 30_000)
  fs.mkdirSync(path.join(mnt, 'app'))
  await new Promise(resolve => setTimeout(resolve, 300))
  const lines = 40_000
  const writer = path.join(__dirname, 'reopenwriter.js')
  const w = spawn(process.execPath, [writer, path.join(mnt, 'app/app.log'), String(lines), '1'],
    { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  w.stdout.on('data', (c: Buffer) => { out += c.toString() })
  const writerDone = new Promise<void>(resolve => w.once('exit', () => resolve()))
  const backMs: number[] = []
  for (let k = 0; k < KILLS; k++) {
    // Longer than the supervisor's crash-loop window, so each kill is an isolated crash.
    await new Promise(resolve => setTimeout(resolve, 6000))
    const before = mounts().length
    const killed = Date.now()
    process.kill(mounts()[before - 1].pid as number, 'SIGKILL')
    await until(() => mounts().length > before || undefined, 'the mount to come back', 30_000)
    backMs.push(Date.now() - killed)
    process.stderr.write(`bench: kill ${k + 1}/${KILLS}: mount back after ${backMs[k]} ms\n`)
  }
  await writerDone
  const { outages } = JSON.parse(out) as { outages: Array<{ error: string, ms: number }> }
  agent.proc.kill('SIGTERM')
  await agent.exited
  const stored = (await get(port, '/v1/sources')) as { sources: Array<{ source: string, bytes: number }> }
  const arrived = Math.round((stored.sources.find(s => s.source === 'bench/app/app.log')?.bytes ?? 0) / 95)
  server.proc.kill('SIGTERM')
  await server.exited
  fs.rmSync(tmp, { recursive: true, force: true })
  const outage = (i: number): string => outages[i] ? `${outages[i].ms} (${outages[i].error})` : '–'
  const rows = backMs.map((ms, i) => `| ${i + 1} | ${ms} | ${outage(i)} |`)
  const text = `logfs agent restarts: ${KILLS} × SIGKILL under a writer (about 1 line/ms, reopening on error), ` +
    `kills 6 s apart, supervised mount\n${machineLine()}\n\n` +
    `| kill | mount back after ms | the application could not write for ms |\n|---|---|---|\n${rows.join('\n')}\n\n` +
    `lines written ${lines}, arrived ${arrived}, lost with the killed agents' memory ${lines - arrived}\n`
  process.stdout.write('\n' + text)
  const dir = path.join(ROOT, 'bench/results')
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(path.join(dir, `restart-${new Date().toISOString().replace(/[:.]/g, '-')}.md`), text)
}

main().catch(fail)
