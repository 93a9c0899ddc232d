// Operating a running system (lab/topology.ts: LB nodes in network namespaces running real Cilium,
// real control planes, every program a process):
// - the speakers run with exactly deploy/kube-lb-cluster/11-speaker-rbac.yaml, 12-speaker-policies.yaml and
//   13-backend-deny-list.yaml (their ServiceAccount's token): they program, announce and write claim status (what
//   the same token is refused is the red team's: test/redteam, test/e2e/redteam.test.ts);
// - `kube-lb status` shows the claim with its VIP, owner node, programmed count and health;
// - `kube-lb doctor`, run inside an LB node's namespace as an operator would on the node, reports ready, and
//   says what is wrong when pointed at a directory that is not bpffs;
// - the speaker's /metrics carries every name docs/metrics.md lists for it.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { main } from '../../src/cli/main.ts';
import type { CliIO } from '../../src/cli/command-args.ts';
import { applyYaml } from '../support/agent-env.ts';
import { eventually } from '../../lab/eventually.ts';
import { Ledger } from '../../lab/ledger.ts';
import { documentedMetrics } from '../support/metrics-doc.ts';
import { SPEAKER_NAMESPACE, Topology } from '../../lab/topology.ts';

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

t.test("speakers with the manifests' RBAC program, announce and report", async (t) => {
  await applyYaml(topo.lb.kubeConfig, readFileSync(join(root, 'deploy/kube-lb-cluster/11-speaker-rbac.yaml'), 'utf8'));
  await applyYaml(
    topo.lb.kubeConfig,
    readFileSync(join(root, 'deploy/kube-lb-cluster/12-speaker-policies.yaml'), 'utf8'),
  );
  // What says which addresses are never backends (ServiceCIDRs, the kubernetes EndpointSlice, the deny-list
  // ConfigMap): the speakers watch them and start only once they could list them.
  await applyYaml(
    topo.lb.kubeConfig,
    readFileSync(join(root, 'deploy/kube-lb-cluster/13-backend-deny-list.yaml'), 'utf8'),
  );
  const core = topo.lb.kubeConfig.makeApiClient(k8s.CoreV1Api);
  const tr = await core.createNamespacedServiceAccountToken({
    name: 'kube-lb-speaker',
    namespace: SPEAKER_NAMESPACE,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  // The relay kubeconfig the speakers use inside their namespaces, with the ServiceAccount's token instead of admin's.
  const relay = JSON.parse(readFileSync(topo.speakerKubeconfig, 'utf8')) as {
    users: Array<{ user: Record<string, unknown> }>;
  };
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
  const claim = await eventually(
    'claim status from the speakers',
    async () => {
      const c = await topo.claimOf('c1', 'web');
      const ok = (type: string) => c?.status?.conditions?.some((x) => x.type === type && x.status === 'True');
      return c && ok('Programmed') && ok('Announced') && c.status?.programmedNodes?.length === 2 ? c : undefined;
    },
    60_000,
  );
  t.ok(claim.status?.announcedBy, `announced by ${claim.status?.announcedBy}`);
  const event = await eventually(
    "the owner's Announcing Event on the claim",
    async () => {
      const events = await core.listNamespacedEvent({
        namespace: claim.metadata.namespace!,
        fieldSelector: `involvedObject.name=${claim.metadata.name}`,
      });
      return events.items.find((e) => e.reason === 'Announcing' && e.source?.component === 'kube-lb-speaker');
    },
    30_000,
  );
  t.match(
    event.message,
    new RegExp(`answers ARP for ${vip.replaceAll('.', '\\.')}`),
    'recorded by a speaker with its own RBAC',
  );

  // ------------------------------------------------------------ kube-lb status
  let out = '';
  const io: CliIO = {
    out: (s) => void (out += s),
    err: (s) => void (out += s),
    env: { KUBECONFIG: topo.lb.kubeconfigPath },
  };
  t.equal(await main(['status'], io), 0, out);
  const row = out.split('\n').find((l) => l.includes('default/web'));
  t.match(
    row,
    new RegExp(
      `^c1\\s+default/web\\s+${vip.replaceAll('.', '\\.')}\\s+${claim.status!.announcedBy}\\s+2/2\\s+1/1\\s+Ready$`,
    ),
    `status row: ${row}`,
  );
  t.match(out, /c1\s+tenant-c1\s+1\s+1\/∞\s+\d+s/, 'tenant row with heartbeat age');

  // ------------------------------------------------------------ metrics
  const metrics = await unixGet(topo.lbNodes[0]!.stateSocket, '/metrics');
  const missing = documentedMetrics('speaker').filter((name) => !metrics.includes(`# HELP ${name} `));
  t.same(missing, [], 'every documented speaker metric is exported');
});

t.test('kube-lb doctor inside an LB node reports ready, and what is wrong elsewhere', async (t) => {
  const node = topo.lbNodes[0]!;
  const doctor = (...args: string[]) =>
    spawnSync(
      'ip',
      ['netns', 'exec', node.ns.name, process.execPath, join(root, 'src/cli/main.ts'), 'doctor', ...args],
      { encoding: 'utf8', timeout: 60_000 },
    );
  const line = topo.cilium!.line;
  const ok = doctor(
    `--map-dir=${node.mapDir}`,
    `--cilium-version=${line}`,
    `--cilium-config-dir=${node.cilium!.configDir}`,
  );
  t.equal(ok.status, 0, ok.stdout + ok.stderr);
  t.match(
    ok.stdout,
    new RegExp(`READY: kube-lb can run on this node \\(Cilium ${line.replace('.', '\\.')} profile\\)`),
  );
  t.match(ok.stdout, /\[ok {2}\] map cilium_lb4_services_v2/);
  const notBpffs = doctor(`--map-dir=${topo.logDir}`);
  t.equal(notBpffs.status, 1);
  t.match(notBpffs.stdout, /\[FAIL\] bpffs: .* is not on a BPF filesystem/);
  t.match(notBpffs.stdout, /NOT READY/);
});
