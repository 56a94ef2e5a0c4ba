// The command line: help, bad flags, exit codes, and the read commands against a real server.
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { run, startAgent, startServer, tempDir } from './helpers/cluster'

t.test('--help for every command, exit 0', async t => {
  const commands = [
    [], ['server'], ['mount'], ['umount'], ['up'], ['sources'], ['cat'], ['tail'], ['grep'], ['query'], ['context'],
    ['trace'],
  ]
  for (const cmd of commands) {
    const p = run([...cmd, '--help'])
    t.equal(await p.exited, 0, `logfs ${cmd.join(' ')} --help`)
    t.match(p.stdout, /Usage: logfs/)
  }
})

t.test('bad input: a clear message on stderr and exit 2', async t => {
  const mnt = tempDir(t, 'mnt')
  const cases: Array<[string[], RegExp]> = [
    [['frobnicate'], /unknown command/],
    [['mount', mnt], /required option '--server <url\[,url\.\.\.\]>'/],
    [['mount', mnt, '--server', 'http://x'], /--server: 'http:\/\/x' is not a ws:\/\//],
    [['mount', mnt, '--server', 'ws://a:1,http://b'], /--server: 'http:\/\/b' is not a ws:\/\//],
    [['mount', mnt, '--server', ','], /--server: no URL given/],
    [['mount', mnt, '--server', 'ws://127.0.0.1:1', '--memory', 'lots'], /--memory: 'lots' is not a size/],
    [['mount', mnt, '--server', 'ws://127.0.0.1:1', '--full-policy', 'maybe'], /Allowed choices are block, drop/],
    [['mount', mnt, '--server', 'ws://127.0.0.1:1', '--ring-size', '4KiB'], /--ring-size must be at least 1MiB/],
    [['mount', mnt, '--server', 'ws://127.0.0.1:1', '--drain-timeout', 'soon'], /--drain-timeout: 'soon' is not a duration/],
    [['mount', mnt, '--server', 'ws://127.0.0.1:1', '--owner', 'me'], /--owner: 'me' is not UID:GID/],
    [['umount', mnt, '--state-dir', tempDir(t, 's')], /is not a logfs mount/],
  ]
  for (const [args, message] of cases) {
    const p = run(args)
    t.equal(await p.exited, 2, `logfs ${args.join(' ')} exits 2`)
    t.match(p.stderr, message)
  }
  const missing = run(['mount', path.join(mnt, 'nope'), '--server', 'ws://127.0.0.1:1'])
  t.equal(await missing.exited, 1)
  t.match(missing.stderr, /mount point .* does not exist/)
})

t.test('sources and cat read what was shipped; umount stops the agent gracefully', async t => {
  const server = await startServer(t)
  const agent = await startAgent(t, server)
  fs.mkdirSync(path.join(agent.mnt, 'web'))
  fs.writeFileSync(path.join(agent.mnt, 'web/access.log'), 'GET /\nGET /about\n')
  const stateDir = (agent.proc.spawnargs[agent.proc.spawnargs.indexOf('--state-dir') + 1])
  const um = run(['umount', agent.mnt, '--state-dir', stateDir])
  t.equal(await um.exited, 0, 'umount exits 0 once the agent has drained and unmounted')
  t.equal(await agent.exited, 0)
  t.notOk(fs.readFileSync('/proc/mounts', 'utf8').includes(agent.mnt), 'nothing left mounted')
  const list = run(['sources', '--server', server.http, '--json'])
  t.equal(await list.exited, 0)
  t.match(JSON.parse(list.stdout), [{ source: 'testnode/web/access.log', bytes: 17 }])
  const cat = run(['cat', 'testnode/web/access.log', '--server', server.http])
  t.equal(await cat.exited, 0)
  t.equal(cat.stdout, 'GET /\nGET /about\n')
  const unknown = run(['cat', 'testnode/web/nope.log', '--server', server.http])
  t.equal(await unknown.exited, 2)
  t.match(unknown.stderr, /unknown source/)
  const badCursor = run(['cat', 'testnode/web/access.log', '--from', 'yesterday', '--server', server.http])
  t.equal(await badCursor.exited, 2)
  t.match(badCursor.stderr, /not a cursor/)
  const down = run(['sources', '--server', 'http://127.0.0.1:1'])
  t.equal(await down.exited, 1)
  t.match(down.stderr, /cannot reach http:\/\/127.0.0.1:1/)
})
