// File names: every name an application may give a log file travels byte for byte from the mount to every read
// command; names the mount cannot keep apart or keep at all are refused with a clear errno, never merged.
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import { type SourceRow, api, arrived, cli, readSource, sources, startAgent, startServer } from './helpers/cluster'

interface Line { source: string, cursor: string, text: string }

/** 255 bytes in 130 characters: the limit is counted in bytes, as the kernel counts it. */
const LONGEST = 'é'.repeat(125) + 'a.log'
const DEEP = Array.from({ length: 40 }, (_, i) => `d${String(i + 1).padStart(2, '0')}`).join('/')

const GOOD: Array<[label: string, rel: string]> = [
  ['spaces', 'names/with space/a b  c.log'],
  ['unicode', 'names/café/日本語.log'],
  ['emoji', 'names/emoji/🚀 launch 👩‍💻.log'],
  ['newline', 'names/nl/new\nline.log'],
  ['control characters', 'names/ctl/tab\tesc\x1b[31m.log'],
  ['URL characters', 'names/url/100%25 #1 ?a=b&c+d;e.log'],
  ['dots', 'names/.../.hidden..log'],
  ['odd tenant', 'te"n ant é/app.log'],
  ['255 bytes', `names/long/${LONGEST}`],
  ['40 levels', `names/deep/${DEEP}/app.log`],
]

/**
 * Makes files (holding 'fits\n') and directories by relative names from `cwd`, in another process: 'ok' or the
 * error code of each.
 */
function fromDeep (cwd: string, ops: Array<['file' | 'dir', string]>): string[] {
  const script = `process.stdout.write(JSON.stringify(JSON.parse(process.argv[1]).map(([kind, name]) => {
    try {
      kind === 'file' ? require('fs').writeFileSync(name, 'fits\\n') : require('fs').mkdirSync(name)
      return 'ok'
    } catch (e) { return e.code }
  })))`
  const r = spawnSync(process.execPath, ['-e', script, JSON.stringify(ops)], { cwd, encoding: 'utf8' })
  return r.status === 0 ? JSON.parse(r.stdout) as string[] : [`failed: ${r.stderr}`]
}

t.test('odd but valid names travel byte for byte to every read endpoint and command', async t => {
  t.equal(Buffer.byteLength(LONGEST), 255)
  const server = await startServer(t)
  const agent = await startAgent(t, server)
  const S = ['--server', server.http]
  const files = GOOD.map(([label, rel], i) => {
    const tok = `tok${i}z`
    return { label, rel, source: `testnode/${rel}`, tok, data: `first ${tok} line\nsecond ${tok} line — ✓ ${label}\n` }
  })
  for (const f of files) {
    const file = path.join(agent.mnt, f.rel)
    fs.mkdirSync(path.dirname(file), { recursive: true })
    fs.appendFileSync(file, f.data)
    t.ok(fs.readdirSync(path.dirname(file)).includes(path.basename(file)), `${f.label}: listed under its own name`)
    t.equal(fs.readFileSync(file, 'utf8'), f.data, `${f.label}: reads back from the mount`)
  }
  for (const f of files) await arrived(server, f.source, Buffer.byteLength(f.data))

  const listed = await sources(server)
  const src = await cli(['sources', '--json', ...S])
  t.equal(src.code, 0, 'logfs sources exits 0')
  const listedByCli = JSON.parse(src.stdout) as SourceRow[]
  for (const f of files) {
    const at = `${f.label}:`
    const q = encodeURIComponent(f.source)
    const [first, second] = f.data.split('\n')
    const tenant = f.rel.split('/')[0]
    t.match(listed.find(s => s.source === f.source), { path: f.rel, tenant, bytes: Buffer.byteLength(f.data) },
      `${at} /v1/sources`)
    const glob = encodeURIComponent(`${tenant}/**`)
    const globbed = (await api<{ sources: SourceRow[] }>(server, `/v1/sources?source=${glob}`)).body.sources
    t.ok(globbed.some(s => s.source === f.source), `${at} a ** glob over its tenant lists it`)
    t.equal((await readSource(server, f.source)).toString(), f.data, `${at} /v1/read returns the exact bytes`)
    const read = await api<Buffer>(server, `/v1/read?source=${q}`)
    t.equal(read.status, 200, `${at} /v1/read answers 200`)
    t.equal(decodeURIComponent(read.headers.get('logfs-source') ?? ''), f.source,
      `${at} the logfs-source header names it`)
    const tail = await api<{ source: string, lines: Line[] }>(server, `/v1/tail?source=${q}&lines=2`)
    t.equal(tail.status, 200, `${at} /v1/tail answers 200`)
    t.match(tail.body, { source: f.source, lines: [{ source: f.source, text: first }, { text: second }] },
      `${at} /v1/tail`)
    const grep = await api<{ hits: Line[] }>(server, `/v1/grep?q=${encodeURIComponent(`second ${f.tok}`)}`)
    t.equal(grep.status, 200, `${at} /v1/grep answers 200`)
    t.match(grep.body.hits, [{ source: f.source, text: second }], `${at} /v1/grep`)
    const hit = grep.body.hits[0]
    const ctx = await api<{ source: string, before: Line[], hit: Line }>(server,
      `/v1/context?source=${q}&cursor=${hit?.cursor}`)
    t.equal(ctx.status, 200, `${at} /v1/context answers 200`)
    t.match(ctx.body, { source: f.source, before: [{ text: first }], hit: { source: f.source, text: second } },
      `${at} /v1/context`)

    t.match(listedByCli.find(s => s.source === f.source), { path: f.rel }, `${at} logfs sources --json`)
    t.same(await cli(['cat', f.source, ...S]), { code: 0, stdout: f.data, stderr: '' }, `${at} logfs cat`)
    t.same(await cli(['tail', '-n', '2', f.source, ...S]), { code: 0, stdout: f.data, stderr: '' }, `${at} logfs tail`)
    const g = await cli(['grep', `second ${f.tok}`, '--json', ...S])
    t.equal(g.code, 0, `${at} logfs grep exits 0`)
    t.match(JSON.parse(g.stdout), { hits: [{ source: f.source, cursor: hit?.cursor }] }, `${at} logfs grep --json`)
    const c = await cli(['context', `${f.source}@${hit?.cursor}`, '-B', '1', '-A', '0', '--json', ...S])
    t.equal(c.code, 0, `${at} logfs context exits 0 (${c.stderr.trim()})`)
    t.match(c.code === 0 ? JSON.parse(c.stdout) : null,
      { before: [{ text: first }], hit: { source: f.source, text: second } }, `${at} logfs context --json`)
  }
})

t.test('names the mount cannot keep are refused with a clear errno, never merged', async t => {
  const server = await startServer(t)
  const agent = await startAgent(t, server)
  const dir = path.join(agent.mnt, 'refuse')
  fs.mkdirSync(dir)
  fs.writeFileSync(path.join(dir, 'good.log'), 'good\n')
  const stderrBefore = agent.stderr
  const inDir = (...name: Buffer[]): Buffer => Buffer.concat([Buffer.from(dir + '/'), ...name])
  const badFF = inDir(Buffer.from('bad'), Buffer.from([0xff]), Buffer.from('.log'))
  const badFE = inDir(Buffer.from('bad'), Buffer.from([0xfe]), Buffer.from('.log'))

  // Decoded, both names would be `bad\ufffd.log`: the native core refuses bytes that are not UTF-8 instead.
  t.throws(() => fs.appendFileSync(badFF, 'data for bad 0xff\n'), { code: 'EILSEQ' },
    'invalid UTF-8: open(O_CREAT) answers EILSEQ')
  t.throws(() => fs.appendFileSync(badFE, 'data for bad 0xfe\n'), { code: 'EILSEQ' },
    'a second invalid name: EILSEQ too')
  t.throws(() => fs.openSync(badFF, 'r'), { code: 'EILSEQ' }, 'a lookup answers EILSEQ as well, never another file')
  t.throws(() => fs.statSync(badFE), { code: 'EILSEQ' }, 'stat')
  t.throws(() => fs.mkdirSync(inDir(Buffer.from([0x64, 0xff]))), { code: 'EILSEQ' }, 'mkdir')
  t.throws(() => fs.renameSync(path.join(dir, 'good.log'), badFE), { code: 'EILSEQ' }, 'rename to an invalid name')
  fs.writeFileSync(path.join(dir, 'genuine\ufffd.log'), 'genuine\n')
  t.same(fs.readdirSync(dir).sort(), ['genuine\ufffd.log', 'good.log'],
    'a genuine U+FFFD (valid UTF-8) is kept; nothing else was created, good.log kept its name')

  // Name components are limited to 255 bytes (statfs namemax), counted in bytes, not characters.
  const long = path.join(dir, 'é'.repeat(128))
  t.throws(() => fs.openSync(long, 'a'), { code: 'ENAMETOOLONG' }, '256 bytes: open(O_CREAT)')
  t.throws(() => fs.openSync(long, 'wx'), { code: 'ENAMETOOLONG' }, '256 bytes: creat')
  t.throws(() => fs.mkdirSync(long), { code: 'ENAMETOOLONG' }, '256 bytes: mkdir')
  t.throws(() => fs.statSync(long), { code: 'ENAMETOOLONG' }, '256 bytes: lookup')
  t.throws(() => fs.renameSync(path.join(dir, 'good.log'), long), { code: 'ENAMETOOLONG' }, '256 bytes: rename')

  // The whole path (from the mount's root) must leave room for the NUL of PATH_MAX 4096. The kernel limits the
  // path of each syscall, so reach past that from a working directory deep inside the mount.
  const levels = Array.from({ length: 16 }, (_, i) => String(i).padStart(250, 'p'))
  const deep = path.join(dir, ...levels)
  fs.mkdirSync(deep, { recursive: true })
  const room = 4095 - Buffer.byteLength(`/refuse/${levels.join('/')}/`)
  t.same(fromDeep(deep, [
    ['file', 'f'.repeat(room)], ['file', 'o'.repeat(room + 1)],
    ['dir', 'd'.repeat(room)], ['dir', 'e'.repeat(room + 1)],
  ]), ['ok', 'ENAMETOOLONG', 'ok', 'ENAMETOOLONG'], 'paths of 4095 bytes are made, of 4096 refused')
  const longest = `testnode/refuse/${levels.join('/')}/${'f'.repeat(room)}`

  t.equal(agent.stderr, stderrBefore, 'nothing logged per refused call')
  const report = await agent.stop()
  t.ok((report.fs as { refusedNames: number }).refusedNames >= 13, 'refusals are counted in the agent report')
  const names = (await sources(server)).map(s => s.source)
  t.same(names.filter(n => n.includes('\ufffd')), ['testnode/refuse/genuine\ufffd.log'],
    'no source with a replaced name')
  t.equal((await readSource(server, 'testnode/refuse/genuine\ufffd.log')).toString(), 'genuine\n',
    'the genuine U+FFFD file holds only its own bytes')
  t.ok(names.includes('testnode/refuse/good.log'), 'good.log arrived')
  t.equal((await readSource(server, 'testnode/refuse/good.log')).toString(), 'good\n',
    'the good file holds only its own bytes')
  t.equal((await readSource(server, longest)).toString(), 'fits\n', 'the longest path is shipped')
})
