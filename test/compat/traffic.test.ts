// One consumer line of the compatibility matrix in the lab topology (lab/topology.ts), with real Cilium on
// the LB nodes: the consumer cluster's kube-apiserver, kube-controller-manager and every consumer node's kube-proxy
// are that line's (KUBE_LB_CONSUMER_K8S; `npm run test:compat` runs this file once per line of lines.json). A
// Service gets its VIP, traffic flows through it from the client, what kube-proxy does with the VIP inside the
// cluster matches what the agent says on the Service, and deleting the Service cleans up.
import t from 'tap';
import { eventually } from '../../lab/eventually.ts';
import { keepsIpMode } from '../../lab/kubernetes-line.ts';
import { Ledger } from '../../lab/ledger.ts';
import { parseAnswer } from '../../lab/backend-pod.ts';
import { Topology } from '../../lab/topology.ts';
import { SERVICE_CONDITIONS } from '../../src/core/agent/status.ts';

const ledger = Ledger.open('compat-traffic');
const topo = await Topology.up(ledger, { label: 'compat-traffic', tenants: [{ name: 'c1' }] });
t.teardown(() => topo.down());

const tenant = topo.tenant('c1');
const line = tenant.cluster.line;
t.comment(`consumer cluster: Kubernetes ${line.version}, kube-proxy ${tenant.nodes[0]!.kubeProxy?.mode ?? '?'} mode`);

t.test(`Kubernetes ${line.version}: a Service's life through the VIP`, async (t) => {
  await t.test('the Service gets an EXTERNAL-IP and both consumer nodes answer through it', async (t) => {
    await topo.createService('c1', 'web', [{ name: 'http', protocol: 'TCP', port: 80 }]);
    const vip = await topo.waitExternalIP('c1', 'web');
    t.match(vip, /^198\.51\.100\./);
    await topo.requestUntilOk('tcp', vip, 80, 60_000);
    const nodes = new Set<string>();
    for (let i = 0; i < 16; i++) {
      const r = await topo.request('tcp', vip, 80, 2000);
      t.ok(r.ok, `request ${i + 1} answered`);
      const a = r.ok ? parseAnswer(r.text) : undefined;
      if (a) nodes.add(a.node);
    }
    t.same([...nodes].sort(), ['c1-a', 'c1-b'], 'answered by both consumer nodes');
  });

  await t.test(
    "inside the cluster: kube-proxy's treatment of the VIP matches the Service's ipMode and condition",
    async (t) => {
      const vip = await topo.waitExternalIP('c1', 'web');
      const svc = await tenant.core.readNamespacedService({ name: 'web', namespace: 'default' });
      const node = tenant.nodes[0]!;
      const mode = node.kubeProxy!.mode;
      // kube-proxy writes its rules for the VIP a moment after the status change reaches it.
      const rules = async (): Promise<string> =>
        mode === 'nftables' ? node.ns.exec('nft', 'list', 'ruleset') : node.ns.exec('iptables-save', '-t', 'nat');
      // From the backend pod: the consumer node has no route to the client segment, so an answer can only come
      // from kube-proxy short-circuiting the VIP to the Service's endpoints.
      const fromPod = async (address = vip): Promise<string> =>
        node.pod.ns.exec('curl', '-s', '-m', '2', `http://${address}:80/`).catch(() => '');
      // The control: the pod reaches the Service by its ClusterIP, so an empty answer from the VIP means no path.
      const viaClusterIP = await eventually(
        'the pod reaches the Service by its ClusterIP',
        async () => parseAnswer(await fromPod(svc.spec!.clusterIP!)),
        30_000,
      );
      t.match(
        viaClusterIP,
        { service: 'default/web' },
        `the pod reaches ${svc.spec?.clusterIP} (ClusterIP) through kube-proxy`,
      );
      if (keepsIpMode(line)) {
        t.same(svc.status?.loadBalancer?.ingress, [{ ip: vip, ipMode: 'Proxy' }]);
        // Give kube-proxy time to sync the status change; the VIP must still be absent after it.
        await eventually(
          'kube-proxy has synced the Service',
          async () => (await rules()).includes(String(svc.spec?.ports?.[0]?.nodePort)),
          30_000,
        );
        t.notMatch(await rules(), vip, `ipMode Proxy: kube-proxy (${mode}) installs no rule for the VIP`);
        t.equal(
          await fromPod(),
          '',
          'a pod connecting to the VIP is not short-circuited (it goes to the routing table)',
        );
      } else {
        t.same(svc.status?.loadBalancer?.ingress, [{ ip: vip }], 'no ipMode: this line would drop it');
        const cond = svc.status?.conditions?.find((c) => c.type === SERVICE_CONDITIONS.IPModeProxy);
        t.equal(cond?.status, 'False');
        t.equal(cond?.reason, 'IPModeUnsupported');
        await eventually(`kube-proxy (${mode}) captures the VIP`, async () => (await rules()).includes(vip), 30_000);
        t.pass(`kube-proxy (${mode}) has rules for ${vip}`);
        const answer = await eventually(
          'a pod reaches the VIP past kube-lb',
          async () => parseAnswer(await fromPod()),
          30_000,
        );
        t.match(
          answer,
          { service: 'default/web' },
          'answered by an endpoint straight from kube-proxy, as the condition says',
        );
        const events = await tenant.core.listNamespacedEvent({
          namespace: 'default',
          fieldSelector: 'involvedObject.name=web',
        });
        t.ok(
          events.items.some((e) => e.reason === 'IPModeUnsupported' && e.type === 'Warning'),
          'a Warning Event says so',
        );
      }
    },
  );

  await t.test('deleting the Service stops the VIP and removes its claim', async (t) => {
    const vip = await topo.waitExternalIP('c1', 'web');
    await topo.deleteService('c1', 'web');
    await eventually('the claim is gone', async () => (await topo.claimOf('c1', 'web')) === undefined, 60_000);
    await eventually('the VIP stops answering', async () => !(await topo.request('tcp', vip, 80, 300)).ok, 30_000);
    t.pass(`${vip} released`);
  });
});
