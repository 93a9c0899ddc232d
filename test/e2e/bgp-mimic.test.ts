// BGP mode on the mimic datapath (the test tc program on Cilium-shaped maps): the same router, FRR and speakers
// as test/e2e/bgp.test.ts, which runs real Cilium; a VIP reached through the router, its flows spread over all
// three LB nodes. The mimic forwards by its own FIB lookups, so this shows the routed return path is the lab's,
// not something only Cilium gets right.
import t from 'tap';
import { parseAnswer } from '../../lab/backend-pod.ts';
import { createLabBgpObjects, waitForwarded } from '../../lab/bgp-lab.ts';
import { Ledger } from '../../lab/ledger.ts';
import { Topology } from '../../lab/topology.ts';

const ledger = Ledger.open('e2e-bgp-mimic');
const topo = await Topology.up(ledger, { label: 'e2e-bgp-mimic', bgp: true, datapath: 'mimic' });
t.teardown(() => topo.down());
const kc = topo.lb.kubeConfig;

t.test('a VIP behind the router answers through every LB node on the mimic datapath', async (t) => {
  await createLabBgpObjects(kc, { bfd: false });
  await topo.createService('c1', 'web', [{ name: 'http', protocol: 'TCP', port: 80 }], {
    externalTrafficPolicy: 'Local',
  });
  const vip = await topo.waitExternalIP('c1', 'web');
  await waitForwarded(topo.bgp!, vip, 3);
  const bySnat = new Map(topo.lbNodes.map((n) => [n.backendIp, n.name]));
  const carried = new Set<string>();
  const failed: string[] = [];
  for (let i = 0; i < 45; i++) {
    const r = await topo.request('tcp', vip, 80, 2000, 'remote');
    const node = r.ok ? bySnat.get(parseAnswer(r.text)?.from ?? '') : undefined;
    if (node) carried.add(node);
    else failed.push(r.text);
  }
  t.same(failed, [], '45 requests from the remote client all answered through a known LB node');
  t.same([...carried].sort(), topo.lbNodes.map((n) => n.name).sort(), 'every LB node carried flows');
});
