// The `logfs` command line.
import { Command, CommanderError, Option } from 'commander'
import fs from 'node:fs'
import path from 'node:path'
import { addAgentOptions, addStoreOptions } from './options'
import { tolerateClosedStdout } from '../util/process'
import { fail } from './run'

/**
 * Loads a command's module when that command runs. A new agent is what writers wait for after a crash,
 * so `mount` does not load the server's and the readers' modules too.
 */
function lazy<M, A extends unknown[]> (load: () => Promise<M>, pick: (m: M) => (...args: A) => Promise<void>):
  (...args: A) => Promise<void> {
  return async (...args) => pick(await load())(...args)
}
const server = (): Promise<typeof import('./server')> => import('./server')
const mount = (): Promise<typeof import('./mount')> => import('./mount')
const read = (): Promise<typeof import('./read')> => import('./read')
const query = (): Promise<typeof import('./query')> => import('./query')
const logql = (): Promise<typeof import('./logql')> => import('./logql')
const up = (): Promise<typeof import('./up')> => import('./up')

tolerateClosedStdout()

const STATE_DIR = process.env.LOGFS_STATE_DIR ?? '/run/logfs'
// Read at run time from beside dist/: the build does not copy package.json.
const PACKAGE_JSON = path.join(__dirname, '../../../package.json')

const program = new Command('logfs')
  .description('A FUSE virtual log disk: applications write log files, logfs ships them from memory to a logfs server.')
  .version((JSON.parse(fs.readFileSync(PACKAGE_JSON, 'utf8')) as { version: string }).version)
  .exitOverride()
  .showHelpAfterError('(run with --help for usage)')

addStoreOptions(program.command('server')
  .description('run the ingest server: with the embedded durable store, or as a stateless gateway of a JetStream ' +
    'cluster (--store nats://...)')
  .option('--token <token>', 'token granting every tenant (default: $LOGFS_TOKEN)')
  .option('--data-dir <dir>', 'where the embedded store keeps its segments', './logfs-data')
  .option('--store <where>', "'embedded' (in --data-dir), or nats://HOST:PORT[,HOST:PORT...]: a JetStream " +
    'cluster, one stream per tenant; run as many servers against it as you like', 'embedded')
  .option('--replicas <n>', 'with --store nats://: copies of each tenant stream in the cluster', '3')
  .option('--index-snapshot <messages>', 'with --store nats://: write a tenant stream\'s index snapshot to the ' +
    'cluster once the index holds this many messages beyond the last one (or a tenth of the stream, if fewer); ' +
    '0: load snapshots, write none', '20000')
  .option('--index-entries <count>', 'with --store nats://: index entries of paged sources a gateway holds in ' +
    'memory; beyond them it lets go of the sources no query used lately and fetches their pages back when one ' +
    'does', '250000')
  .option('--gateways <n>', 'with --store nats://: how many gateways serve the cluster; each enforces a tenant\'s ' +
    'ingest rate divided by this', '1')
  .option('--no-token-filters', 'with --store nats://: build and use no token filters in the cluster; every ' +
    'search reads its whole range (to compare ingest with and without them)')
  .option('--limits <file>', 'per-tenant limits (JSON: ingest rate and burst, sources, retention, queries, scan), '
    + 're-read when it changes; without it, retention comes from --retention-size/--retention-age per tenant')
  .option('--query-wait <duration>', 'how long a query waits for one of its tenant\'s query slots before it is ' +
    'refused with 429', '30s')
  .option('--listen <host:port>', 'address for agents (WebSocket) and readers (HTTP)', '127.0.0.1:7070')
  .option('--json', 'print events as JSON lines on stdout'))
  .action(lazy(server, m => m.serverCommand))

addAgentOptions(program.command('mount')
  .description('mount a log disk at <mountpoint> and ship what is written there')
  .argument('<mountpoint>', 'an existing directory')
  .requiredOption('--server <url[,url...]>',
    'logfs server, e.g. ws://127.0.0.1:7070; several (gateways of one cluster) are tried in turn')
  .addOption(new Option('--state-dir <dir>', 'where the agent keeps its pid file, directory skeleton and the '
    + 'socket a new supervisor asks for the mount on (--upgrade)')
    .default(STATE_DIR))
  .option('--no-supervise', 'run the agent in this process instead of under a supervisor that restarts it')
  .option('--no-handover', 'restart a dead agent with a new mount (open files break) instead of handing the '
    + 'mount over; SIGHUP to the supervisor then does nothing')
  .option('--upgrade', 'take the mount over from the logfs mount running at this place (same --state-dir), '
    + 'open files and unshipped bytes included; mount as usual if none runs (a DaemonSet rolling update)')
  .option('--mkdir', 'create the mount point (and its parents) if it does not exist')
  .option('--json', 'print events (mounted, stopped with a report) as JSON lines on stdout'))
  .action(lazy(mount, m => m.mountCommand))

program.command('umount')
  .description('stop the agent of <mountpoint> gracefully (ship, then unmount), or clean a stale mount; '
    + 'exits 1 if bytes were left unshipped')
  .argument('<mountpoint>')
  .option('--state-dir <dir>', 'where agents keep their pid files', STATE_DIR)
  .option('--timeout <duration>', 'how long to wait for the agent to finish', '60s')
  .option('--json', 'print the outcome of the stop (ok, pendingBytes, lastError, …) as JSON on stdout')
  .action(lazy(mount, m => m.umountCommand))

addStoreOptions(addAgentOptions(program.command('up')
  .description('demo: embedded server + mount + sample writer, with a live summary; Ctrl-C stops it cleanly')
  .option('--data-dir <dir>', 'store directory (default: a new temporary directory)')
  .option('--mount <dir>', 'mount point (default: a new temporary directory)')
  .option('--listen <host:port>', 'server address', '127.0.0.1:0')
  .option('--rate <lines/s>', 'lines per second the sample writer writes', '400')
  .option('--duration <duration>', 'stop by itself after this long')
  .option('--json', 'print progress and the summary as JSON lines on stdout')))
  .action(lazy(up, m => m.upCommand))

/** Flags every reading command shares. */
const reader = (cmd: Command): Command => cmd
  .option('--server <url>', 'logfs server', process.env.LOGFS_SERVER ?? 'http://127.0.0.1:7070')
  .option('--token <token>', 'read token (default: $LOGFS_TOKEN)')
  .option('--json', 'print JSON for scripts')

reader(program.command('sources')
  .description('list the sources the server holds (node, tenant, path, size, last write)')
  .option('--source <glob>', 'only sources whose name or path matches'))
  .action(lazy(read, m => m.sourcesCommand))

reader(program.command('tenants')
  .description('each tenant your token covers: ingest over the last minute, stored bytes, oldest data, sources, '
    + 'throttled seconds and queued queries, against its limits'))
  .action(lazy(read, m => m.tenantsCommand))

reader(program.command('cat')
  .description('write the stored bytes of <source> to stdout, in cursor order')
  .argument('<source>', 'a source as listed by `logfs sources` (its path alone will do when unique)')
  .option('--from <cursor>', 'start at this cursor (GEN:OFFSET)'))
  .action(lazy(read, m => m.catCommand))

reader(program.command('tail')
  .description('the last lines of <source>; with -f, then every new line as it arrives')
  .argument('[source]', 'a source, or its path when unique (e.g. prod/api-7d9/app.log)')
  .option('-f, --follow', 'keep printing new lines')
  .option('--source <glob>', 'with -f and no <source>: follow every matching source, new ones included')
  .option('-n, --lines <n>', 'how many lines to show first', '10'))
  .action(lazy(query, m => m.tailCommand))

reader(program.command('grep')
  .description('find lines by text or regular expression; exits 1 when nothing matches')
  .argument('<pattern>', 'text (or a regular expression with -E)')
  .option('-E, --regex', 'the pattern is a regular expression')
  .option('-i, --ignore-case', 'ignore case')
  .option('-w, --word', 'match whole words only (no letter, digit or _ on either side); the index can then use' +
    ' the pattern\'s edge words too')
  .option('--since <time>', 'only lines written since (15m, 2h, an ISO date)')
  .option('--until <time>', 'only lines written until')
  .option('--source <glob>', 'only sources whose name or path matches (e.g. \'prod/**\')')
  .option('--limit <n>', 'stop after this many hits', '100'))
  .action(lazy(query, m => m.grepCommand))

reader(program.command('query')
  .description('a LogQL query, as Loki\'s: a log query prints lines as grep does, a metric query a table per series')
  .argument('<logql>', 'e.g. \'sum by (level) (count_over_time({namespace="prod"} | json [5m]))\'')
  .option('--since <time>', 'the range starts (15m, 2h, an ISO date)', '1h')
  .option('--until <time>', 'the range ends (default now)')
  .option('--step <duration>', 'a metric query\'s resolution (default: the range / 250, at least 1s)')
  .option('--limit <n>', 'a log query\'s most lines', '100'))
  .action(lazy(logql, m => m.logqlCommand))

reader(program.command('context')
  .description('the lines around a hit, from the same source, across rotations')
  .argument('<hit>', 'SOURCE@CURSOR, as grep prints it')
  .option('-B, --before <n>', 'lines before', '10')
  .option('-A, --after <n>', 'lines after', '10'))
  .action(lazy(query, m => m.contextCommand))

reader(program.command('trace')
  .description('the call tree of one request, rebuilt from the rpc_id of its JSON log lines')
  .argument('<trace_id>'))
  .action(lazy(query, m => m.traceCommand))

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2)
  fail(err)
})
