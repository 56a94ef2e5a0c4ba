// Deployment files: every Kubernetes manifest passes schema validation (the Kubernetes OpenAPI schemas, compiled
// in the kubernetes-models package) and has what running logfs safely needs; every systemd unit passes
// `systemd-analyze verify` without a single complaint.
import t from 'tap'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import { parseAllDocuments } from 'yaml'
import { ROOT, event, forceUnmount, run } from './helpers/cluster'

// kubernetes-models is ESM only; this keeps a real import() in the CommonJS build.
type Model = new (o: unknown) => { validate: () => void }
const esm = new Function('p', 'return import(p)') as (p: string) => Promise<Record<string, Model>>

/** The parts of a pod template these tests read. */
type PodSpec = {
  containers: Array<{
    args: string[]
    securityContext: { privileged?: boolean }
    volumeMounts: Array<{ name: string, mountPropagation?: string, subPathExpr?: string }>
    livenessProbe?: unknown
    readinessProbe?: unknown
    resources: { limits: { memory?: string }, requests: { memory?: string } }
  }>
  volumes: Array<{ name: string, hostPath?: { path: string, type?: string } }>
  terminationGracePeriodSeconds: number
}
type Doc = {
  apiVersion: string, kind: string, metadata: { name: string },
  spec?: { template: { spec: PodSpec }, updateStrategy?: { rollingUpdate?: Record<string, unknown> } }
}

function manifests (): Array<{ file: string, doc: Doc }> {
  const dir = path.join(ROOT, 'k8s')
  const out: Array<{ file: string, doc: Doc }> = []
  for (const file of fs.readdirSync(dir).filter(f => f.endsWith('.yaml')).sort()) {
    for (const d of parseAllDocuments(fs.readFileSync(path.join(dir, file), 'utf8'))) {
      if (d.errors.length) throw new Error(`${file}: ${d.errors[0].message}`)
      out.push({ file, doc: d.toJS() as Doc })
    }
  }
  return out
}

t.test('every manifest is valid against the Kubernetes schemas', async t => {
  const all = manifests()
  t.ok(all.length >= 9, `${all.length} documents`)
  for (const { file, doc } of all) {
    if (doc.kind === 'Kustomization') {
      for (const r of (doc as unknown as { resources: string[] }).resources) {
        t.ok(fs.existsSync(path.join(ROOT, 'k8s', r)), `${file} lists ${r}, which exists`)
      }
      continue
    }
    const mod = await esm(`kubernetes-models/${doc.apiVersion}/${doc.kind}`)
    t.doesNotThrow(() => new mod[doc.kind](doc).validate(), `${file}: ${doc.kind} ${doc.metadata.name}`)
  }
  // The check itself must be able to fail.
  const { DaemonSet } = await esm('kubernetes-models/apps/v1/DaemonSet')
  const broken = structuredClone(all.find(m => m.doc.kind === 'DaemonSet')!.doc)
  broken.spec!.template.spec.containers[0].volumeMounts[0].mountPropagation = 'Sideways'
  t.throws(() => new DaemonSet(broken).validate(), 'a wrong propagation mode is caught')
})

t.test('the DaemonSet and the example pods have what logfs needs', async t => {
  const all = manifests()
  const ds = all.find(m => m.doc.kind === 'DaemonSet')!.doc.spec!.template.spec
  const agent = ds.containers[0]
  t.equal(agent.securityContext.privileged, true, 'privileged (FUSE mount, Bidirectional propagation)')
  t.match(agent.volumeMounts, [{ name: 'logfs-root', mountPropagation: 'Bidirectional' }])
  t.match(ds.volumes, [{ name: 'logfs-root' }, { name: 'fuse', hostPath: { path: '/dev/fuse', type: 'CharDevice' } }])
  t.match(agent.livenessProbe, { httpGet: { path: '/healthz', port: 'metrics' } })
  t.match(agent.readinessProbe, { httpGet: { path: '/readyz', port: 'metrics' } })
  // A rolling update hands the mount over (issue 12): the new pod must start beside the old one and take over.
  const rolling = all.find(m => m.doc.kind === 'DaemonSet')!.doc.spec!.updateStrategy?.rollingUpdate
  t.match(rolling, { maxSurge: 1, maxUnavailable: 0 }, 'the new pod starts while the old one runs')
  t.ok(agent.args.includes('--upgrade'), 'and takes the mount over from it')
  const drain = Number(/^(\d+)s$/.exec(agent.args[agent.args.indexOf('--drain-timeout') + 1])![1])
  t.ok(ds.terminationGracePeriodSeconds > drain, 'the grace period covers the drain')
  t.ok(agent.resources.limits.memory && agent.resources.requests.memory, 'memory request and limit')
  const app = all.find(m => m.file === 'example-app.yaml')!.doc.spec!.template.spec
  t.match(app.containers[0].volumeMounts, [
    { subPathExpr: '$(POD_NAMESPACE)/$(POD_NAME)/app', mountPropagation: 'HostToContainer' },
  ])
  t.equal(app.volumes[0].hostPath!.path, agent.args[1], 'pods use the directory the agent mounts')
  const side = all.find(m => m.file === 'sidecar-example.yaml')!.doc.spec!.template.spec
  const propagation = side.containers.map(c => c.volumeMounts[0].mountPropagation)
  t.same(propagation, ['HostToContainer', 'Bidirectional'])
  // The agent's arguments work: run them (paths moved to temporary ones, the server unreachable) until mounted.
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'logfs-k8s-'))
  t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }))
  const cm = all.find(m => m.doc.kind === 'ConfigMap')!.doc as unknown as { data: Record<string, string> }
  fs.writeFileSync(path.join(tmp, 'collection.json'), cm.data['collection.json'])
  const swap: Record<string, string> = {
    '/var/lib/logfs/mnt': path.join(tmp, 'mnt'),
    'ws://logfs-server.logfs-system.svc:7070': 'ws://127.0.0.1:1',
    '$(NODE_NAME)': 'node-1',
    '/etc/logfs/collection/collection.json': path.join(tmp, 'collection.json'),
    '/run/logfs': path.join(tmp, 'state'),
    '0.0.0.0:9464': '127.0.0.1:0',
  }
  // Unsupervised here (a test kills it directly), so without --upgrade, which is the supervisor's.
  const args = agent.args.filter((a: string) => a !== '--upgrade').map((a: string) => swap[a] ?? a)
  const p = run([...args, '--no-supervise', '--json'])
  t.teardown(() => { p.proc.kill('SIGKILL'); forceUnmount(path.join(tmp, 'mnt')) })
  await event(p, 'mounted')
  t.pass('the DaemonSet\'s arguments mount a log disk')
  p.proc.kill('SIGTERM')
  t.equal(await p.exited, 0, 'and stop cleanly')
})

t.test('systemd units pass systemd-analyze verify', async t => {
  const have = spawnSync('systemd-analyze', ['--version'])
  if (have.error) {
    t.fail('systemd-analyze is missing: bin/logfs-setup installs systemd')
    return
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'logfs-units-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  for (const f of fs.readdirSync(path.join(ROOT, 'systemd')).filter(f => f.endsWith('.service'))) {
    fs.copyFileSync(path.join(ROOT, 'systemd', f), path.join(dir, f))
  }
  // A template is verified through an instance of it.
  fs.symlinkSync(path.join(dir, 'logfs-mount@.service'), path.join(dir, 'logfs-mount@var-log-apps.service'))
  const verify = (unit: string): string => {
    const r = spawnSync('systemd-analyze', ['verify', '--man=no', `./${unit}`], { cwd: dir, encoding: 'utf8' })
    return `${r.status === 0 ? '' : `exit ${r.status} `}${r.stdout}${r.stderr}`.trim()
  }
  for (const unit of ['logfs-server.service', 'logfs-mount@var-log-apps.service']) {
    t.equal(verify(unit), '', `${unit} verifies cleanly`)
  }
  const serverUnit = fs.readFileSync(path.join(dir, 'logfs-server.service'), 'utf8')
  fs.writeFileSync(path.join(dir, 'broken.service'), serverUnit.replace('Restart=on-failure', 'Restart=sometimes'))
  t.match(verify('broken.service'), /restart specifier/, 'the check catches a mistake')
  const mountUnit = fs.readFileSync(path.join(dir, 'logfs-mount@.service'), 'utf8')
  for (const opt of ['ProtectSystem=', 'PrivateTmp=', 'ProtectHome=', 'PrivateDevices=', 'PrivateMounts=']) {
    t.notOk(mountUnit.split('\n').some(l => l.startsWith(opt)),
      `the mount unit has no ${opt} (it would hide the mount from the host)`)
  }
  t.match(mountUnit, /DeviceAllow=\/dev\/fuse rw/)
})
