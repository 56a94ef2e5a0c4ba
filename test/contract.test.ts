// Every contract C and TypeScript share, checked from both sides: the values TypeScript reads from the native core
// (lib/native/fuse/constants.c) are the names it knows and work on real bytes; the supervisor, built from the
// protocol header the agent's addon exports (lib/native/protocol.h), acts on the exit codes, environment and
// events the agent uses; and where each side has its own code (the log line, the pid file, the token hash), both
// run on the same input and give the same output.
import t, { type Test } from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import {
  CTL_NAMES, OP_NAMES, POLICY_NAMES, SET_ATTR_NAMES, STAT_NAMES, native, type Protocol,
} from '../lib/native/fuse/native'
import { decoding, type Request } from '../lib/native/fuse/requests'
import { Ring } from '../lib/ring/ring'
import { readRecords, type RingRecord } from '../lib/ring/records'
import { claimMemfd } from '../lib/ring/memfd'
import { readPid, releasePid, writePid } from '../lib/agent/state-dir'
import { LOG_LEVEL_ENV } from '../lib/util/log'
import { MAX_TOKEN, MIN_TOKEN, forEachToken } from '../lib/store/tokens'
import { tokenizer } from '../lib/store/tokenizer'
import { LEVELS, SUMMARY } from '../lib/store/levels'
import { ROOT, tempDir, waitFor } from './helpers/cluster'

const SUPERVISE = path.join(ROOT, 'lib/native/supervisor/build/Release/logfs-supervise')
const FAKE_AGENT = path.join(ROOT, 'dist/test/fixtures/fake-agent.js')
const c = native.constants
const byValue = (table: Record<string, number>): string[] =>
  Object.entries(table).sort((a, b) => a[1] - b[1]).map(([name]) => name)

t.test('names: TypeScript knows exactly the names C exports, each once', async t => {
  t.same(byValue(c.ring.stat), STAT_NAMES, 'the ring counters, in their order in the control block')
  t.same(Object.values(c.ring.stat).sort(), [...STAT_NAMES.keys()], 'counters 0.. statCount - 1')
  t.equal(c.ring.statCount, STAT_NAMES.length)
  t.same(byValue(c.ring.ctl), CTL_NAMES, 'the control slots')
  t.equal(c.ring.ctlSlots, CTL_NAMES.length)
  t.equal(c.ring.controlBytes, 8 * (c.ring.ctlSlots + c.ring.statCount), 'the control block: slots, then counters')
  t.same(byValue(c.op), OP_NAMES, 'the ops handed to JavaScript')
  t.same(byValue(c.setAttr), SET_ATTR_NAMES, 'setattr\'s bits')
  t.same(byValue(c.policy), POLICY_NAMES, 'the full-ring policies')
  const protocol: Array<keyof Protocol> = ['channelFd', 'fuseFd', 'stateFd', 'exitHandedOver', 'exitRenew',
    'envFuseFd', 'envStateFd', 'envRenewals', 'envGenFloor', 'envLogLevel', 'signalHandOver', 'eventMounted',
    'eventStopping', 'eventRestarting', 'eventHandedOver']
  t.same(Object.keys(c.protocol).sort(), protocol.sort(), 'the supervisor protocol')
  t.equal(LOG_LEVEL_ENV, c.protocol.envLogLevel, 'the log level\'s variable (util/log.ts loads no addon)')
})

t.test('the ring: records and counters C writes read back by the layout C exports', async t => {
  claimMemfd()
  const ring = Ring.create('contract', 1024 * 1024, 1024 * 1024, c.policy.drop)
  if (!ring) throw new Error('no room for a ring in the state')
  t.equal(ring.control.byteLength, c.ring.controlBytes, 'the control block is controlBytes long')
  const source = native.sourceNew(ring.index, 'contract/a.log')
  const writes = ['one line\n', 'two\nlines\n', 'no newline yet', ' ended\n'].map(s => Buffer.from(s))
  for (const w of writes) t.equal(native.write(source, w), 0)
  const records: RingRecord[] = []
  readRecords(ring.data, ring.control, ring.tail, ring.head, r => records.push({ ...r, data: Buffer.from(r.data) }))
  t.same(records.map(r => Buffer.from(r.data).toString()), writes.map(String), 'each write is a record')
  t.same(records.map(r => r.sourceId), writes.map(() => source), 'of its source')
  t.same(records.map(r => r.offset), [0, 9, 19, 33], 'at its cursor offset')
  t.ok(records.every(r => Math.abs(r.timestamp - Date.now()) < 60_000), 'stamped with the time')
  t.equal(ring.cut(ring.tail, 1 << 20), ring.head, 'cut reads the same records up to the head')
  t.equal(ring.stat('bytesIn'), 40)
  t.equal(ring.stat('linesIn'), 4)
  t.equal(ring.stat('writes'), 4)
  t.equal(ring.stat('droppedBytes') + ring.stat('waiting') + ring.stat('waitingBytes'), 0)
  ring.release(ring.head)
})

t.test('requests: each op C hands over is decoded into its named fields', async t => {
  const seen: Request[] = []
  const dispatch = decoding(r => seen.push(r))
  for (const name of OP_NAMES) dispatch(c.op[name], 7, 11, 'n', 12, 'm', 1, 2, 3, 4, 5, 6, 8, 0)
  t.same(seen.map(r => r.op), OP_NAMES)
  const by = (op: string): Request => seen.find(r => r.op === op)!
  t.match(by('rename'), { req: 7, resent: false, parent: 11, name: 'n', newParent: 12, newName: 'm', flags: 1 })
  t.match(by('create'), { parent: 11, name: 'n', mode: 1, flags: 2 })
  t.match(by('readdir'), { ino: 11, size: 1, offset: 2 })
  t.match(by('forget'), { ino: 11, nlookup: 1 })
  seen.length = 0
  const b = c.setAttr
  dispatch(c.op.setattr, 7, 11, null, 0, null, b.size | b.mode | b.atime | b.atimeNow | b.mtime, 0o644, 1, 2, 99,
    5, 6, 1)
  const set = { mode: 0o644, size: 99, atime: 'now', mtime: 6 }
  t.same(seen[0], { req: 7, resent: true, op: 'setattr', ino: 11, set }, 'setattr: only the fields the kernel set')
  t.throws(() => dispatch(99, 7, 1, null, 0, null, 0, 0, 0, 0, 0, 0, 0, 0), /op 99/, 'an unknown op is an error')
})

t.test('the token hash: the store\'s C and the query side\'s TypeScript give the same tokens', async t => {
  const { constants, blockTokens } = tokenizer()
  t.same(constants, { MIN_TOKEN, MAX_TOKEN, LEVELS: LEVELS.length }, 'the same rules')
  t.equal(SUMMARY, 1 + constants.LEVELS, 'a piece\'s summary: newlines, then a count per level')
  const text = ['ERROR upstream_timeout after 30s id=4bf92f35-77b3 user=Alice', 'ab x9 __init__ café naïve',
    'x'.repeat(63), 'y'.repeat(64), 'z'.repeat(65) + 'Q', 'W'.repeat(200), 'Mixed_Case_123 mixed_case_123 a_b',
    'warn 日本語 tokens\t\r after', ''].join('\n')
  const data = Buffer.from(text)
  const ts = new Set<number>()
  forEachToken(data, 0, data.length, (_s, _e, h) => ts.add(h))
  const { hashes } = blockTokens(data, Int32Array.of(0, 0, data.length, data.length), new Uint32Array(0),
    new Uint8Array(0))
  t.ok(ts.size > 15, `${ts.size} tokens`)
  t.same([...hashes], [...ts].sort((a, b) => a - b), 'the same hashes')
})

interface Supervised {
  pid: number
  stdout: string
  stderr: string
  events: () => Array<Record<string, unknown>>
  exited: Promise<number | null>
}

/** The supervisor over fake agents following `plan` (test/fixtures/fake-agent.ts), in `dir`, with this log level. */
function supervise (dir: string, plan: Array<number | { stop: number }>, logLevel?: string): Supervised {
  fs.writeFileSync(path.join(dir, 'plan.json'), JSON.stringify(plan))
  const env = { ...process.env }
  delete env[LOG_LEVEL_ENV]
  if (logLevel !== undefined) env[LOG_LEVEL_ENV] = logLevel
  const proc = spawn(SUPERVISE, ['--json', '--pid-file', path.join(dir, 'state/mnt.pid'), '--',
    process.execPath, FAKE_AGENT, dir], { stdio: ['ignore', 'pipe', 'pipe'], env })
  const s: Supervised = {
    pid: proc.pid!, stdout: '', stderr: '',
    events: () => s.stdout.split('\n').filter(Boolean).map(l => JSON.parse(l) as Record<string, unknown>),
    exited: new Promise(resolve => proc.once('exit', code => resolve(code))),
  }
  proc.stdout.on('data', (b: Buffer) => { s.stdout += b.toString() })
  proc.stderr.on('data', (b: Buffer) => { s.stderr += b.toString() })
  return s
}

const agent = (dir: string, n: number): { pid: number, env: Record<string, string>, channel: string,
  fuse: number | null, state: number | null } => JSON.parse(fs.readFileSync(path.join(dir, `agent-${n}.json`), 'utf8'))

/** What lib/util/log.ts writes for this line, in a process with this log level (undefined: unset). */
function tsLog (level: 'info' | 'error', component: string, message: string, logLevel?: string): string {
  const env = { ...process.env }
  delete env[LOG_LEVEL_ENV]
  if (logLevel !== undefined) env[LOG_LEVEL_ENV] = logLevel
  const module = JSON.stringify(path.join(ROOT, 'dist/lib/util/log.js'))
  const args = JSON.stringify([level, component, message])
  return spawnSync(process.execPath, ['-e', `require(${module}).log(...${args})`], { env, encoding: 'utf8' }).stderr
}

const ISO = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) /
/** A log line without its time, after checking the time is what toISOString writes. */
function untimed (t: Test, line: string): string {
  const time = ISO.exec(line)?.[1]
  t.ok(time !== undefined && new Date(time).toISOString() === time, `an ISO time in ms, UTC: ${line}`)
  return line.replace(ISO, '')
}


const lineOf = (text: string, message: string): string => text.split('\n').find(l => l.endsWith(message)) ?? ''

t.test('the supervisor: exit codes, environment, descriptors, events, log lines and pid file, as the agent has them',
  async t => {
    const dir = tempDir(t, 'contract')
    const p = c.protocol
    const pidFile = path.join(dir, 'state/mnt.pid')
    const sv = supervise(dir, [p.exitHandedOver, p.exitRenew, 7, { stop: 0 }])
    t.teardown(() => { try { process.kill(sv.pid, 'SIGKILL') } catch {} })
    const mounted = await waitFor('the fourth agent', () => sv.events().filter(e => e.event === p.eventMounted)[3])
    const [a1, a2, a3, a4] = [1, 2, 3, 4].map(n => agent(dir, n))

    t.equal(a1.channel, 'function', 'the channel: a socket at its number, which Node opens as process.send')
    t.equal(a1.env[p.envFuseFd], String(p.fuseFd), 'the /dev/fuse descriptor, named')
    t.equal(a1.env[p.envStateFd], String(p.stateFd), 'the state\'s, named')
    t.ok(a1.fuse !== null && a1.state !== null, 'both open at their numbers')
    t.equal(a1.env[p.envRenewals], '0')
    t.equal(a2.state, a1.state, `exit ${p.exitHandedOver} hands the same descriptors to the next agent`)
    t.equal(a2.env[p.envGenFloor], '101', 'with the generation the last `mounted` said')
    t.not(a3.state, a2.state, `exit ${p.exitRenew}: fresh descriptors`)
    t.equal(a3.env[p.envRenewals], '1', 'and one renewal more')
    t.equal(a4.env[p.envGenFloor], '103')

    const events = sv.events().map(e => e.event)
    t.same(events.filter(e => e !== p.eventMounted), [p.eventRestarting], 'only the crash is a restart')
    t.match(sv.events().find(e => e.event === p.eventRestarting), { reason: 'exit code 7', delayMs: 0 })
    t.same(mounted, { event: p.eventMounted, mountpoint: dir, pid: a4.pid, gen: 104 }, '`mounted` as the agent sent it')

    for (const [level, message] of [['info', 'agent handed the mount over; starting the new one'],
      ['error', 'agent died (exit code 7); starting a new one']] as const) {
      const c = lineOf(sv.stderr, message)
      const ts = tsLog(level, 'supervisor', message).trimEnd()
      t.equal(untimed(t, c), untimed(t, ts), `the same log line from C and TypeScript: ${level}`)
    }

    const tsPid = path.join(dir, 'ts.pid')
    writePid(tsPid)
    const format = (file: string, pid: number): string => fs.readFileSync(file, 'utf8').replace(String(pid), 'PID')
    t.equal(format(pidFile, sv.pid), format(tsPid, process.pid), 'the same pid file')
    t.equal(readPid(pidFile), sv.pid, 'naming the supervisor')
    process.kill(sv.pid, 'SIGTERM')
    t.equal(await sv.exited, 0, 'a stop: the agent\'s code')
    releasePid(tsPid)
    t.same([fs.existsSync(pidFile), fs.existsSync(tsPid)], [false, false], 'each removes its pid file at the end')
  })

t.test('the supervisor: `stopping`, a pid file another process took, and the log level', async t => {
  const dir = tempDir(t, 'contract')
  const p = c.protocol
  const pidFile = path.join(dir, 'state/mnt.pid')
  const sv = supervise(dir, [{ stop: 1 }], 'error')
  t.teardown(() => { try { process.kill(sv.pid, 'SIGKILL') } catch {} })
  const mounted = await waitFor('the agent', () => sv.events().find(e => e.event === p.eventMounted))
  fs.writeFileSync(pidFile, '1\n')
  const tsPid = path.join(dir, 'ts.pid')
  fs.writeFileSync(tsPid, '1\n')
  // The agent signalled by someone else says `stopping`: its exit is a stop, not a crash to restart.
  process.kill(mounted.pid as number, 'SIGTERM')
  t.equal(await sv.exited, 1, 'the supervisor ends with the agent\'s code')
  t.same(sv.events().map(e => e.event), [p.eventMounted], 'no restart')
  releasePid(tsPid)
  t.same([fs.readFileSync(pidFile, 'utf8'), fs.readFileSync(tsPid, 'utf8')], ['1\n', '1\n'],
    'neither removes a pid file that names another process')
  const info = 'agent stopped deliberately (exit code 1); not starting a new one'
  t.same([lineOf(sv.stderr, info), tsLog('info', 'supervisor', info, 'error')], ['', ''],
    `${LOG_LEVEL_ENV}=error: no info line from either`)
  t.not(tsLog('info', 'supervisor', info, 'bogus'), '', 'and anything else is info')
})
