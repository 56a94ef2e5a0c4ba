// The native core's C on its own: builds the C tests of test/native/ (a file per area, run by their harness
// producer_test.c) with lib/native/fuse/intake.c, budget.c, tail.c, files.c, writeback.c, state.c,
// lib/store/tokenizer/tokens.c and lib/logql/fields/flat.c (no N-API, no libfuse) under AddressSanitizer + UBSan and
// runs them, then builds them once more under ThreadSanitizer for the threaded block-policy and budget parts. Each C
// test shows up here as an assertion.
import t, { type Test } from 'tap'
import { spawnSync, type SpawnSyncReturns } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

/** The repository, from dist/test/ (this file, compiled) or test/. */
const ROOT = path.resolve(__dirname, __dirname.includes(`${path.sep}dist${path.sep}`) ? '../..' : '..')
const SRC = path.join(ROOT, 'lib/native/fuse')
const TOKENIZER = path.join(ROOT, 'lib/store/tokenizer')
const FIELDS = path.join(ROOT, 'lib/logql/fields')
const TESTS = path.join(ROOT, 'test/native')
/** The harness, the fixture and a file per area; a new file here is built in without a change to this list. */
const SOURCES = [...fs.readdirSync(TESTS).filter(f => f.endsWith('.c')).sort().map(f => path.join(TESTS, f)),
  ...['intake.c', 'budget.c', 'tail.c', 'files.c', 'writeback.c', 'state.c'].map(f => path.join(SRC, f)),
  path.join(TOKENIZER, 'tokens.c'), path.join(FIELDS, 'flat.c')]
const FLAGS = ['-std=c11', '-D_GNU_SOURCE', '-O1', '-g', '-fno-omit-frame-pointer', '-pthread', `-I${SRC}`,
  `-I${TOKENIZER}`, `-I${FIELDS}`]
const ASAN = ['-fsanitize=address,undefined']
const TSAN = ['-fsanitize=thread']
/** A sanitizer's report on stderr, whether or not it ended the program. */
const REPORT = /(AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|ThreadSanitizer|runtime error:)/

const run = (cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): SpawnSyncReturns<string> =>
  spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8', timeout: 300_000, env: { ...process.env, ...env } })

const output = (r: SpawnSyncReturns<string>): string =>
  `exit ${r.status}${r.signal ? ` (${r.signal})` : ''}${r.error ? `, ${r.error.message}` : ''}\n` +
  `--- stdout\n${r.stdout ?? ''}\n--- stderr\n${r.stderr ?? ''}`

/** Mirrors the program's TAP lines as assertions. */
function mirror (t: Test, stdout: string): void {
  for (const line of stdout.split('\n')) {
    const m = /^(not ok|ok) \d+ - (.*)$/.exec(line)
    if (!m) continue
    t.ok(m[1] === 'ok', m[2])
  }
  const plan = /^1\.\.(\d+)$/m.exec(stdout)
  t.ok(plan && Number(plan[1]) > 0, 'the program printed its plan: it ran to the end')
}

const compiler = run('cc', ['--version'])
const noCompiler = compiler.status === 0 ? false : `no C compiler (cc): ${compiler.error?.message ?? compiler.stderr}`
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'logfs-native-'))
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))

t.test('producer, tail, file table and memfd under AddressSanitizer and UBSan', { skip: noCompiler }, async t => {
  const bin = path.join(dir, 'producer_test_asan')
  const cc = run('cc', [...FLAGS, ...ASAN, ...SOURCES, '-o', bin])
  if (cc.status !== 0) return t.fail(`compiling failed:\n${output(cc)}`)
  const r = run(bin, [], {
    ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=1',
    UBSAN_OPTIONS: 'print_stacktrace=1',
  })
  mirror(t, r.stdout)
  t.equal(r.status, 0, `the program passed\n${r.status === 0 ? '' : output(r)}`)
  t.notMatch(r.stderr, REPORT, 'no sanitizer report')
})

/** Builds and runs the ThreadSanitizer part: its result, or why it cannot run here. */
function underTsan (): { skip: string | false, result?: SpawnSyncReturns<string> } {
  if (noCompiler) return { skip: noCompiler }
  const bin = path.join(dir, 'producer_test_tsan')
  const cc = run('cc', [...FLAGS, ...TSAN, ...SOURCES, '-o', bin])
  if (cc.status !== 0) return { skip: `ThreadSanitizer cannot build here (libtsan missing?): ${firstLines(cc)}` }
  // The threaded parts, and the single-threaded ones that touch the same locks and flags.
  const args = ['block', 'closed', 'announce', 'budget']
  const env = { TSAN_OPTIONS: 'halt_on_error=1:second_deadlock_stack=1' }
  const started = (x: SpawnSyncReturns<string>): boolean => (x.stdout ?? '').includes('TAP version')
  const r = run(bin, args, env)
  if (started(r)) return { skip: false, result: r }
  // TSan maps its shadow memory at fixed addresses; on some kernels (high mmap randomisation, other layouts) it
  // fails before main. Without address randomisation it usually starts; failing that, the reason is the skip's.
  const norandom = run('setarch', [os.machine(), '-R', bin, ...args], env)
  if (started(norandom)) return { skip: false, result: norandom }
  return { skip: `ThreadSanitizer does not start on this kernel: ${firstLines(r)}` }
}

const firstLines = (r: SpawnSyncReturns<string>): string =>
  (r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n').slice(0, 3).join(' / ')

const tsan = underTsan()

t.test('the block policy\'s and the shared budget\'s threads under ThreadSanitizer', { skip: tsan.skip }, async t => {
  const r = tsan.result!
  mirror(t, r.stdout)
  t.equal(r.status, 0, `the program passed\n${r.status === 0 ? '' : output(r)}`)
  t.notMatch(r.stderr, REPORT, 'no data race or lock-order report')
})
