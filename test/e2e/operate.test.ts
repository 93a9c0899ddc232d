// Operating a running system (test/support/topology.ts: LB nodes in network namespaces running real Cilium,
// real control planes, every program a process):
// - the speakers run with exactly deploy/kube-lb-cluster/11-speaker-rbac.yaml, 12-speaker-policies.yaml and
//   13-backend-deny-list.yaml (their ServiceAccount's token): they program, announce and write claim status, and
//   are refused what their code never does, the allocator's Lease and a claim's VIP included;
// - `kube-lb status` shows the claim with its VIP, owner node, programmed count and health;
// - `kube-lb doctor`, run inside an LB node's namespace as an operator would on the node, reports ready, and
//   says what is wrong when pointed at a directory that is not bpffs;
// - the speaker's /metrics carries every name docs/metrics.md lists for it;
// - a claim whose spec moved past the allocator (stopped, and its webhook with it) is served with only the backends
//   its tenant may use: the speakers check every backend themselves (issue 12).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import type { VIPClaim, VIPPool } from '../../src/api/v1alpha1.ts';
import { main } from '../../src/cli/main.ts';
import type { CliIO } from '../../src/cli/command-args.ts';
import { resourceClient } from '../../src/kube/custom-objects.ts';
import { applyYaml } from '../support/agent-env.ts';
import { eventually } from '../support/eventually.ts';
import { Ledger } from '../support/ledger.ts';
import { documentedMetrics } from '../support/metrics-doc.ts';
import { SPEAKER_NAMESPACE, Topology } from '../support/topology.ts';

const root = join(import.meta.dirname, '../..');
const ledger = Ledger.open('e2e-operate');
const topo = await Topology.up(ledger, { label: 'e2e-operate', lbNodes: 2, tenants: [{ name: 'c1', nodes: 1 }] });
t.teardown(() => topo.down());

function unixGet(socketPath: string, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, timeout: 10_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve(text));
    });
    req.on('error', reject);
    req.end();
  });
}

async function forbidden(op: () => Promise<unknown>): Promise<boolean> {
  try {
    await op();
    return false;
  } catch (err) {
    return (err as { code?: number }).code === 403;
  }
}

t.test('speakers with the manifests\' RBAC program, announce and report', async (t) => {
  await applyYaml(topo.lb.kubeConfig, readFileSync(join(root, 'deploy/kube-lb-cluster/11-speaker-rbac.yaml'), 'utf8'));
  await applyYaml(topo.lb.kubeConfig, readFileSync(join(root, 'deploy/kube-lb-cluster/12-speaker-policies.yaml'), 'utf8'));
  // What says which addresses are never backends (ServiceCIDRs, the kubernetes EndpointSlice, the deny-list
  // ConfigMap): the speakers watch them and start only once they could list them.
  await applyYaml(topo.lb.kubeConfig, readFileSync(join(root, 'deploy/kube-lb-cluster/13-backend-deny-list.yaml'), 'utf8'));
  const core = topo.lb.kubeConfig.makeApiClient(k8s.CoreV1Api);
  const tr = await core.createNamespacedServiceAccountToken({ name: 'kube-lb-speaker', namespace: SPEAKER_NAMESPACE, body: { spec: { audiences: [], expirationSeconds: 3600 } } });
  // The relay kubeconfig the speakers use inside their namespaces, with the ServiceAccount's token instead of admin's.
  const relay = JSON.parse(readFileSync(topo.speakerKubeconfig, 'utf8')) as { users: Array<{ user: Record<string, unknown> }> };
  for (const u of relay.users) u.user = { token: tr.status!.token! };
  const kubeconfig = join(topo.logDir, 'speaker-sa.kubeconfig.json');
  writeFileSync(kubeconfig, JSON.stringify(relay), { mode: 0o600 });
  for (const n of topo.lbNodes) {
    await topo.stopSpeaker(n.name);
    topo.startSpeaker(n.name, [`--kubeconfig=${kubeconfig}`]);
  }
  for (const n of topo.lbNodes) await topo.waitSpeakerReady(n.name);

  await topo.createService('c1', 'web', [{ name: 'http', protocol: 'TCP', port: 80 }]);
  const vip = await topo.waitExternalIP('c1', 'web');
  const answer = await topo.requestUntilOk('tcp', vip, 80);
  t.ok(answer.ok, `traffic to ${vip}:80 flows: ${answer.text}`);
  const claim = await eventually('claim status from the speakers', async () => {
    const c = await topo.claimOf('c1', 'web');
    const ok = (type: string) => c?.status?.conditions?.some((x) => x.type === type && x.status === 'True');
    return c && ok('Programmed') && ok('Announced') && c.status?.programmedNodes?.length === 2 ? c : undefined;
  }, 60_000);
  t.ok(claim.status?.announcedBy, `announced by ${claim.status?.announcedBy}`);
  const event = await eventually('the owner\'s Announcing Event on the claim', async () => {
    const events = await core.listNamespacedEvent({ namespace: claim.metadata.namespace!, fieldSelector: `involvedObject.name=${claim.metadata.name}` });
    return events.items.find((e) => e.reason === 'Announcing' && e.source?.component === 'kube-lb-speaker');
  }, 30_000);
  t.match(event.message, new RegExp(`answers ARP for ${vip.replaceAll('.', '\\.')}`), 'recorded by a speaker with its own RBAC');

  const speakerKc = new k8s.KubeConfig();
  speakerKc.loadFromOptions({
    clusters: [{ name: 'lb', server: topo.lb.server, caData: Buffer.from(topo.lb.caData).toString('base64') }],
    users: [{ name: 'speaker', token: tr.status!.token! }],
    contexts: [{ name: 'speaker', cluster: 'lb', user: 'speaker' }],
    currentContext: 'speaker',
  });
  const speakerClaims = resourceClient<VIPClaim>(speakerKc, 'VIPClaim');
  t.ok(await forbidden(() => speakerClaims.replace({ ...claim, spec: { ...claim.spec, backends: [] } })), 'a speaker cannot change a claim spec');
  t.ok(await forbidden(() => speakerKc.makeApiClient(k8s.CoreV1Api).listSecretForAllNamespaces()), 'a speaker reads no Secrets');
  t.ok(
    await forbidden(() => resourceClient<VIPPool>(speakerKc, 'VIPPool').create({ apiVersion: 'kube-lb.io/v1alpha1', kind: 'VIPPool', metadata: { name: 'x' }, spec: { addresses: ['192.0.2.0/30'] } })),
    'a speaker cannot create pools',
  );

  // What RBAC allows but the admission policies (12-speaker-policies.yaml) do not: the speakers above worked under them.
  const leases = speakerKc.makeApiClient(k8s.CoordinationV1Api);
  const refusal = async (op: () => Promise<unknown>): Promise<string> => {
    try {
      await op();
      return '';
    } catch (err) {
      return String((err as { body?: unknown }).body ?? err);
    }
  };
  const leaderLease = await eventually('the allocator\'s leader Lease refused to a speaker token', async () => {
    const why = await refusal(() =>
      leases.createNamespacedLease({ namespace: SPEAKER_NAMESPACE, body: { metadata: { name: 'kube-lb-allocator' }, spec: { holderIdentity: 'evil' } } }),
    );
    return why.includes('ValidatingAdmissionPolicy') ? why : undefined;
  }, 30_000);
  t.match(leaderLease, /writes only its per-node Leases/, 'a speaker cannot take the allocator\'s leader Lease');
  const fresh = await speakerClaims.get(claim.metadata.name!, claim.metadata.namespace);
  const forged = await refusal(() => speakerClaims.replaceStatus({ ...fresh, status: { ...fresh.status, vip: '198.51.100.1' } }));
  t.match(forged, /status\.vip and status\.pool are the allocator's/, 'a speaker cannot forge a VIP into a claim status');
  const allocated = await refusal(() =>
    speakerClaims.replaceStatus({
      ...fresh,
      status: { ...fresh.status, conditions: (fresh.status?.conditions ?? []).map((c) => (c.type === 'Allocated' ? { ...c, status: 'False', reason: 'Evil' } : c)) },
    }),
  );
  t.match(allocated, /the Allocated condition is the allocator's/, 'nor the allocator\'s condition');

  // ------------------------------------------------------------ kube-lb status
  let out = '';
  const io: CliIO = { out: (s) => void (out += s), err: (s) => void (out += s), env: { KUBECONFIG: topo.lb.kubeconfigPath } };
  t.equal(await main(['status'], io), 0, out);
  const row = out.split('\n').find((l) => l.includes('default/web'));
  t.match(row, new RegExp(`^c1\\s+default/web\\s+${vip.replaceAll('.', '\\.')}\\s+${claim.status!.announcedBy}\\s+2/2\\s+1/1\\s+Ready$`), `status row: ${row}`);
  t.match(out, /c1\s+tenant-c1\s+1\s+1\/∞\s+\d+s/, 'tenant row with heartbeat age');

  // ------------------------------------------------------------ metrics
  const metrics = await unixGet(topo.lbNodes[0]!.stateSocket, '/metrics');
  const missing = documentedMetrics('speaker').filter((name) => !metrics.includes(`# HELP ${name} `));
  t.same(missing, [], 'every documented speaker metric is exported');
});

t.test('a claim edited past the allocator (stopped, its webhook with it): no LB node programs a backend its tenant may not use', async (t) => {
  await topo.createService('c1', 'guarded', [{ name: 'http', protocol: 'TCP', port: 80 }]);
  const vip = await topo.waitExternalIP('c1', 'guarded');
  t.ok((await topo.requestUntilOk('tcp', vip, 80)).ok, 'traffic flows before');
  const before = await eventually('the claim, allocated', async () => {
    const c = await topo.claimOf('c1', 'guarded');
    return c?.status?.conditions?.some((x) => x.type === 'Allocated' && x.status === 'True') ? c : undefined;
  });
  // What the tenant's token may do while the allocator is away: the agent would put the spec back and the allocator
  // refuse it, so both are stopped; the claim keeps Allocated=True from its earlier generation.
  await topo.tenant('c1').agent?.stop(3000);
  await topo.stopAllocator();
  t.teardown(async () => {
    await topo.startAllocator();
    await topo.startAgent('c1');
  });
  const lbNode = topo.lbNodes[0]!;
  const hostile = [
    { address: '127.0.0.1', why: /is loopback/ },
    { address: lbNode.frontIp, why: new RegExp(`is LB node ${lbNode.name}`) },
    { address: '10.200.2.5', why: /outside ConsumerCluster c1 spec\.allowedBackendCIDRs/ },
  ];
  const claims = resourceClient<VIPClaim>(topo.lb.kubeConfig, 'VIPClaim');
  const current = await claims.get(before.metadata.name!, before.metadata.namespace);
  await claims.replace({
    ...current,
    spec: { ...current.spec, backends: [...current.spec.backends, ...hostile.map((h) => ({ nodeName: `evil-${h.address}`, address: h.address, ready: true }))] },
  });
  const key = `${before.metadata.namespace}/${before.metadata.name}`;
  for (const n of topo.lbNodes) {
    const port = await eventually(`${n.name} planned the edited claim`, async () => {
      const c = (await topo.speakerState(n.name)).claims.find((x) => x.claim === key);
      const p = c?.ports?.[0];
      return p && p.backends.length === before.spec.backends.length + hostile.length ? p : undefined;
    });
    for (const h of hostile) {
      const b = port.backends.find((x) => x.address === h.address) as { refused?: string; selected: boolean } | undefined;
      t.match(b?.refused, h.why, `${n.name} refuses ${h.address}: ${b?.refused}`);
      t.notOk(b?.selected, 'and never selects it');
    }
    // Cilium's own view of the maps: the VIP's backends are the allowed ones only.
    const listing = await n.cilium!.dbg(['bpf', 'lb', 'list']);
    const rows = listing.split('\n').filter((l) => l.includes(`${vip}:80`));
    t.ok(rows.length > 0, `${n.name}: cilium-dbg lists ${vip}:80`);
    for (const h of hostile) t.notOk(rows.some((r) => r.includes(`${h.address}:`)), `${n.name}: no slot of ${vip}:80 points at ${h.address}`);
  }
  t.ok((await topo.requestUntilOk('tcp', vip, 80)).ok, 'the allowed backends keep serving the VIP');
  const programmed = await eventually('the refusal in the claim status', async () => {
    const c = await topo.claimOf('c1', 'guarded');
    const cond = c?.status?.conditions?.find((x) => x.type === 'Programmed');
    return cond?.message.includes('backends not programmed') ? cond : undefined;
  });
  t.match(programmed.message, /127\.0\.0\.1 is loopback/, `Programmed says why: ${programmed.message}`);
});

t.test('kube-lb doctor inside an LB node reports ready, and what is wrong elsewhere', async (t) => {
  const node = topo.lbNodes[0]!;
  const doctor = (...args: string[]) =>
    spawnSync('ip', ['netns', 'exec', node.ns.name, process.execPath, join(root, 'src/cli/main.ts'), 'doctor', ...args], { encoding: 'utf8', timeout: 60_000 });
  const line = topo.cilium!.line;
  const ok = doctor(`--map-dir=${node.mapDir}`, `--cilium-version=${line}`, `--cilium-config-dir=${node.cilium!.configDir}`);
  t.equal(ok.status, 0, ok.stdout + ok.stderr);
  t.match(ok.stdout, new RegExp(`READY: kube-lb can run on this node \\(Cilium ${line.replace('.', '\\.')} profile\\)`));
  t.match(ok.stdout, /\[ok  \] map cilium_lb4_services_v2/);
  const notBpffs = doctor(`--map-dir=${topo.logDir}`);
  t.equal(notBpffs.status, 1);
  t.match(notBpffs.stdout, /\[FAIL\] bpffs: .* is not on a BPF filesystem/);
  t.match(notBpffs.stdout, /NOT READY/);
});
