// The shape of the code: no import cycles, and no layer imports one above it. Data flows FUSE → ring → worker →
// wire → server → store → query; util is at the bottom, cli at the top. Read from the sources, in-process.
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'

const ROOT = path.resolve(__dirname, '../..')

/**
 * The layers each layer may import directly, besides its own; what they may import is allowed too. A directory
 * of lib/ missing here fails the test until it is given a place; a folder inside one (`store/disk`) is a layer of
 * its own when it is named here.
 */
const MAY_IMPORT: Record<string, string[]> = {
  util: [],
  wire: ['util'],
  metrics: ['util'],
  // The agent's native core: the FUSE session, the ring producer and the tails, behind lib/native/fuse/native.ts.
  // (lib/native/supervisor is a C program: no module imports it.)
  'native/fuse': ['util'],
  ring: ['util', 'native/fuse'],
  // The store contract: what the server and queries ask of any store, the per-source index both stores keep, and
  // tokens (tokenized by an addon of its own, lib/store/tokenizer.ts, never by the agent's FUSE core).
  store: ['util'],
  // The embedded store, segment files on this machine: one implementation of the contract.
  'store/disk': ['store'],
  // Queries work through the contract, whichever store holds the bytes.
  query: ['store'],
  // LogQL: a language over the same scans and scopes the queries use.
  logql: ['query'],
  server: ['query', 'logql', 'wire', 'metrics'],
  // The console runs in the browser; it imports only the API's result types (the queries', and the server's own).
  web: ['server'],
  // A gateway's store: the cluster's streams behind the same index the embedded store keeps, not its files.
  jetstream: ['store'],
  config: ['ring'],
  fs: ['ring', 'config', 'native/fuse'],
  ship: ['ring', 'wire', 'metrics'],
  demo: ['util'],
  agent: ['fs', 'ship', 'config', 'metrics'],
  // `logfs server` constructs the store the flags choose.
  cli: ['agent', 'server', 'store/disk', 'jetstream', 'demo'],
  // The benchmarks drive the whole program.
  bench: ['cli'],
}

function below (layer: string, seen = new Set<string>()): Set<string> {
  for (const l of MAY_IMPORT[layer] ?? []) {
    if (seen.has(l)) continue
    seen.add(l)
    below(l, seen)
  }
  return seen
}

/** The relative module specifiers in a TypeScript source: imports and re-exports (type-only too), require, import(). */
export function specifiers (text: string): string[] {
  const found: string[] = []
  const patterns = [
    /^\s*(?:import|export)\b[^'";]*?\bfrom\s*['"]([^'"]+)['"]/gm,
    /^\s*import\s*['"]([^'"]+)['"]/gm,
    /\b(?:require|import)\(\s*['"]([^'"]+)['"]\s*\)/g,
  ]
  for (const re of patterns) for (const m of text.matchAll(re)) if (m[1].startsWith('.')) found.push(m[1])
  return found
}

/**
 * Module id (path from the root, no extension) of a relative specifier; null for JSON, which is data, not code
 * (and is required relative to dist/, not to the source).
 */
function resolve (from: string, spec: string): string | null {
  if (spec.endsWith('.json')) return null
  const base = path.join(path.dirname(from), spec)
  for (const file of [`${base}.ts`, `${base}.d.ts`, path.join(base, 'index.ts')]) {
    if (fs.existsSync(path.join(ROOT, file))) return file.replace(/(\.d)?\.ts$/, '').replace(/\/index$/, '')
  }
  throw new Error(`${from}: cannot resolve '${spec}'`)
}

function sources (dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter(e => e.isFile() && e.name.endsWith('.ts'))
    .map(e => path.relative(ROOT, path.join(e.parentPath, e.name)))
}

/** Module id → the module ids it imports. */
function graph (files: string[]): Map<string, string[]> {
  const g = new Map<string, string[]>()
  for (const file of files) {
    const deps = specifiers(fs.readFileSync(path.join(ROOT, file), 'utf8'))
      .map(s => resolve(file, s)).filter((m): m is string => m !== null)
    g.set(file.replace(/(\.d)?\.ts$/, ''), [...new Set(deps)])
  }
  return g
}

/** One import cycle as a path that ends where it starts, or null when there is none. */
export function findCycle (g: Map<string, string[]>): string[] | null {
  const done = new Set<string>()
  const stack: string[] = []
  const onStack = new Set<string>()
  const visit = (m: string): string[] | null => {
    if (onStack.has(m)) return [...stack.slice(stack.indexOf(m)), m]
    if (done.has(m)) return null
    stack.push(m)
    onStack.add(m)
    for (const d of g.get(m) ?? []) {
      const cycle = visit(d)
      if (cycle) return cycle
    }
    stack.pop()
    onStack.delete(m)
    done.add(m)
    return null
  }
  for (const m of g.keys()) {
    const cycle = visit(m)
    if (cycle) return cycle
  }
  return null
}

/**
 * A module's layer: its folder under lib/, or the folder inside that when MAY_IMPORT names it (native/fuse,
 * store/disk).
 */
function layerOf (m: string): string {
  if (m.startsWith('bench/')) return 'bench'
  const [, top, inner] = m.split('/')
  return `${top}/${inner}` in MAY_IMPORT ? `${top}/${inner}` : top
}

t.test('the import reader sees every kind of relative import', async t => {
  const text = [
    "import { a,\n  b } from './multi'",
    "import type { C } from '../typed'",
    "export { d } from './reexported'",
    "export * from './all'",
    "import './side-effect'",
    "const pkg = require('../package.json')",
    "import fs from 'node:fs'",
    "export const DIR = './not-an-import'",
  ].join('\n')
  t.same(specifiers(text).sort(), ['../package.json', '../typed', './all', './multi', './reexported', './side-effect'])
})

t.test('the cycle finder finds a cycle and clears a tree', async t => {
  t.same(findCycle(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']]])), ['a', 'b', 'c', 'a'])
  t.equal(findCycle(new Map([['a', ['b', 'c']], ['b', ['c']], ['c', []]])), null)
})

t.test('lib and bench: no import cycles, no upward imports', async t => {
  const g = graph([...sources('lib'), ...sources('bench')])
  t.ok(g.size > 50 && [...g.values()].flat().length > 100, `read ${g.size} modules`)
  t.ok(g.get('lib/agent/agent')?.includes('lib/ring/intake'), 'a known import is seen')
  t.equal(layerOf('lib/store/disk/store'), 'store/disk', 'a folder named in MAY_IMPORT is a layer of its own')
  t.equal(layerOf('lib/store/source'), 'store')

  const cycle = findCycle(g)
  t.equal(cycle, null, cycle ? `import cycle: ${cycle.join(' → ')}` : 'no import cycle')

  const unplaced = [...g.keys()].filter(m => !(layerOf(m) in MAY_IMPORT))
  t.same(unplaced, [], 'every module belongs to a layer of MAY_IMPORT')
  const upward: string[] = []
  for (const [m, deps] of g) {
    const allowed = below(layerOf(m)).add(layerOf(m))
    for (const d of deps) if (!allowed.has(layerOf(d))) upward.push(`${m} → ${d}`)
  }
  t.same(upward, [], 'every import goes to the same layer or one below')
})

t.test('the store tokenizes with its own addon and loads nothing of the agent\'s FUSE core', async t => {
  const g = graph(sources('lib/store'))
  t.ok(g.get('lib/store/disk/blocks')?.includes('lib/store/tokenizer'), 'blocks.ts uses the tokenizer')
  const fuse = [...g].flatMap(([m, deps]) => deps.filter(d => d.startsWith('lib/native/')).map(d => `${m} → ${d}`))
  t.same(fuse, [], 'no store module imports lib/native')
})

/** The quoted #includes of a C source or header. */
const includes = (file: string): string[] =>
  [...fs.readFileSync(file, 'utf8').matchAll(/^#include "([^"]+)"/gm)].map(m => m[1])

/**
 * The one header two products share: the agent <-> supervisor protocol, which the supervisor includes and the
 * agent's addon exports to TypeScript (lib/native/fuse/constants.c), so that it is written down once.
 */
const SHARED_HEADER = 'lib/native/protocol.h'

/** The folders of C the project builds, each a product of its own with its binding.gyp. */
const PRODUCTS = ['lib/native/fuse', 'lib/native/supervisor', 'lib/store/tokenizer', 'lib/logql/fields']

t.test('each native product builds from its own folder: no C crosses into another but the protocol', async t => {
  const native = fs.readdirSync(path.join(ROOT, 'lib/native'), { withFileTypes: true })
    .filter(e => e.isDirectory() && e.name !== 'build').map(e => `lib/native/${e.name}`)
  t.same(native.filter(d => !PRODUCTS.includes(d)), [], 'every folder of lib/native is a product listed here')
  for (const dir of PRODUCTS) {
    const abs = path.join(ROOT, dir)
    t.ok(fs.existsSync(path.join(abs, 'binding.gyp')), `${dir} has its binding.gyp`)
    const c = fs.readdirSync(abs).filter(f => /\.(c|cc|h)$/.test(f))
    const foreign = c.flatMap(f => includes(path.join(abs, f))
      .filter(h => !fs.existsSync(path.join(abs, h)) && path.join(dir, h) !== SHARED_HEADER)
      .map(h => `${f} → ${h}`))
    t.same(foreign, [], `${dir}: every quoted #include is in the folder, or is ${SHARED_HEADER}`)
  }
  const shared = PRODUCTS.filter(dir => fs.readdirSync(path.join(ROOT, dir)).filter(f => /\.(c|cc|h)$/.test(f))
    .some(f => includes(path.join(ROOT, dir, f)).some(h => path.join(dir, h) === SHARED_HEADER)))
  t.same(shared, ['lib/native/fuse', 'lib/native/supervisor'], `${SHARED_HEADER} is the agent's and the supervisor's`)
  for (const dir of ['lib/store/tokenizer', 'lib/logql/fields']) {
    t.notMatch(fs.readFileSync(path.join(ROOT, dir, 'binding.gyp'), 'utf8'), /fuse3/, `${dir} links no libfuse`)
  }
})

/** The C modules of a product folder (a .c or .cc and its .h are one) and the modules each includes. */
const includeGraph = (dir: string): Map<string, string[]> => {
  const abs = path.join(ROOT, dir)
  const module = (file: string): string => `${dir}/${file.replace(/\.(c|cc|h)$/, '')}`
  const g = new Map<string, string[]>()
  for (const f of fs.readdirSync(abs).filter(f => /\.(c|cc|h)$/.test(f))) {
    const deps = g.get(module(f)) ?? []
    for (const h of includes(path.join(abs, f))) {
      if (module(h) !== module(f) && !deps.includes(module(h))) deps.push(module(h))
    }
    g.set(module(f), deps)
  }
  return g
}

t.test('C: no include cycles between modules, a source and its header counting as one', async t => {
  for (const dir of PRODUCTS) {
    const g = includeGraph(dir)
    const cycle = findCycle(g)
    t.equal(cycle, null, cycle ? `${dir}: include cycle: ${cycle.join(' → ')}` : `${dir}: no include cycle`)
  }
  t.ok(includeGraph('lib/native/fuse').get('lib/native/fuse/files')?.includes('lib/native/fuse/writeback'),
    'a known include is seen')
})
