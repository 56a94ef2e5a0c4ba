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
import { NatsCluster } from '../bench/natscluster'

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

/** Every manifest of k8s/ and of its scale-out overlay (not the overlay's patches, which are not whole objects). */
function manifests (): Array<{ file: string, doc: Doc }> {
  const out: Array<{ file: string, doc: Doc }> = []
  for (const sub of ['', 'scale-out']) {
    const dir = path.join(ROOT, 'k8s', sub)
    const files = fs.readdirSync(dir).filter(f => f.endsWith('.yaml') && !f.endsWith('.patch.yaml')).sort()
    for (const name of files) {
      const file = path.join(sub, name)
      for (const d of parseAllDocuments(fs.readFileSync(path.join(dir, name), 'utf8'))) {
        if (d.errors.length) throw new Error(`${file}: ${d.errors[0].message}`)
        out.push({ file, doc: d.toJS() as Doc })
      }
    }
  }
  return out
}

t.test('every manifest is valid against the Kubernetes schemas', async t => {
  const all = manifests()
  t.ok(all.length >= 9, `${all.length} documents`)
  for (const { file, doc } of all) {
    if (doc.kind === 'Kustomization') {
      const k = doc as unknown as { resources: string[], patches?: Array<{ path: string }> }
      for (const r of [...k.resources, ...(k.patches ?? []).map(p => p.path)]) {
        t.ok(fs.existsSync(path.join(ROOT, 'k8s', path.dirname(file), r)), `${file} lists ${r}, which exists`)
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
  // A rolling update is a supervisor handoff: the new pod must start beside the old one and take over.
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

t.test('the scale-out overlay: a NATS cluster with JetStream, stateless gateways behind the agents\' Service',
  async t => {
    const all = manifests()
    const base = all.filter(m => !m.file.startsWith('scale-out/'))
    const overlay = all.filter(m => m.file.startsWith('scale-out/'))
    const patch = parseAllDocuments(fs.readFileSync(path.join(ROOT, 'k8s/scale-out/without-embedded-server.patch.yaml'),
      'utf8'))[0].toJS() as Doc & { $patch: string }
    t.equal(patch.$patch, 'delete')
    t.ok(base.some(m => m.doc.kind === patch.kind && m.doc.metadata.name === patch.metadata.name),
      'the patch deletes the embedded store\'s StatefulSet, which the base has')
    type Any = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
    const find = (kind: string, name: string): Any => overlay.find(m => m.doc.kind === kind &&
      m.doc.metadata.name === name)!.doc
    const nats = find('StatefulSet', 'logfs-nats')
    t.equal(nats.spec.replicas, 3, 'three NATS nodes')
    const conf = (find('ConfigMap', 'logfs-nats').data as Record<string, string>)['nats.conf']
    const routes = [0, 1, 2].map(i => `nats://logfs-nats-${i}.logfs-nats.logfs-system.svc:6222`)
    for (const r of routes) t.ok(conf.includes(r), `routes to ${r}`)
    const gw = find('Deployment', 'logfs-gateway')
    const pod = gw.spec.template.spec
    const args = pod.containers[0].args as string[]
    const store = args[args.indexOf('--store') + 1]
    t.equal(store, 'nats://' + [0, 1, 2].map(i => `logfs-nats-${i}.logfs-nats:4222`).join(','),
      'the gateways name every NATS node')
    t.ok(Number(args[args.indexOf('--replicas') + 1]) <= nats.spec.replicas, 'no more replicas than nodes')
    t.same(pod.volumes.map((v: Any) => v.name), ['tokens'], 'stateless: no volume but the tokens')
    const service = base.find(m => m.doc.kind === 'Service' && m.doc.metadata.name === 'logfs-server')!.doc as
      unknown as Any
    t.match(gw.spec.template.metadata.labels, service.spec.selector, 'the agents\' Service selects the gateways')

    // The config and the arguments work: nats-server checks the config; the gateway runs against a real cluster.
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'logfs-k8s-nats-'))
    t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }))
    fs.writeFileSync(path.join(tmp, 'nats.conf'), conf.replace('store_dir: /data', `store_dir: ${tmp}/data`))
    const check = spawnSync('nats-server', ['-c', path.join(tmp, 'nats.conf'), '-t'],
      { env: { ...process.env, POD_NAME: 'logfs-nats-0' }, encoding: 'utf8' })
    t.equal(check.status, 0, `nats-server accepts the config: ${check.stderr}`)
    const cluster = await NatsCluster.start(3)
    t.teardown(() => cluster.stop())
    fs.writeFileSync(path.join(tmp, 'tokens.json'), JSON.stringify({ 'k8s-token-0123456789': '*' }))
    const swap: Record<string, string> = {
      [store]: cluster.url,
      '0.0.0.0:7070': '127.0.0.1:0',
      '/etc/logfs/tokens/tokens.json': path.join(tmp, 'tokens.json'),
    }
    const p = run([...args.map(a => swap[a] ?? a), '--retention-size', '64MiB', '--json'])
    t.teardown(() => { p.proc.kill('SIGKILL') })
    await event(p, 'listening')
    t.pass('the gateway\'s arguments start a gateway of the cluster')
    p.proc.kill('SIGTERM')
    t.equal(await p.exited, 0, 'and it stops cleanly')
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
