// L2 announcement driven by the API objects: VIPPools, an L2Announcement with a node selector and an interface
// regex, and VIPClaims whose status carries the VIP. The speakers must announce exactly what the announcement
// selects and report the owner in each claim's Announced condition.
import t, { type Test } from 'tap';
import * as k8s from '@kubernetes/client-node';
import { createNodes } from '../../../lab/controlplane.ts';
import { arpingReplies } from '../../../lab/l2-topology.ts';
import { allocatedClaim, startL2Stand } from '../../../lab/l2-stand.ts';
import { eventually } from '../../../lab/eventually.ts';
import { rendezvousOwner } from '../../../src/core/l2/rendezvous.ts';
import { resourceClient } from '../../../src/kube/custom-objects.ts';
import { API_VERSION, type L2Announcement, type VIPClaim, type VIPPool } from '../../../src/api/v1alpha1.ts';

const { setup, cluster, topo, speakers } = await startL2Stand(t, 'claims', 3);
const kc = cluster.kubeConfig;
const pools = resourceClient<VIPPool>(kc, 'VIPPool');
const announcements = resourceClient<L2Announcement>(kc, 'L2Announcement');
const claims = resourceClient<VIPClaim>(kc, 'VIPClaim');
const publicVips = ['10.66.0.100', '10.66.0.101', '10.66.0.102', '10.66.0.103'];
const privateVip = '10.66.0.150';
const claim = (name: string, vip: string, pool: string) => allocatedClaim(claims, 'tenant-a', name, vip, pool);

/** The API objects the speakers read; a failure here unwinds the setup before it propagates. */
async function createObjects(): Promise<void> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: 'kube-lb-system' } } });
  await core.createNamespace({ body: { metadata: { name: 'tenant-a' } } });
  const publicLabel: Record<string, string> = { 'kube-lb.io/public': 'true' };
  await createNodes(
    kc,
    topo.nodes.map((n, i) => ({ name: n.name, internalIP: n.ip, labels: i < 2 ? publicLabel : {} })),
  );
  await speakers.connectApi();

  await pools.create({
    apiVersion: API_VERSION,
    kind: 'VIPPool',
    metadata: { name: 'public', labels: { exposure: 'public' } },
    spec: { addresses: ['10.66.0.100-10.66.0.120'] },
  });
  await pools.create({
    apiVersion: API_VERSION,
    kind: 'VIPPool',
    metadata: { name: 'private', labels: { exposure: 'private' } },
    spec: { addresses: ['10.66.0.150-10.66.0.160'] },
  });
  await announcements.create({
    apiVersion: API_VERSION,
    kind: 'L2Announcement',
    metadata: { name: 'public' },
    spec: {
      poolSelector: { matchLabels: { exposure: 'public' } },
      nodeSelector: { matchLabels: { 'kube-lb.io/public': 'true' } },
      interfaces: ['/^eth/'],
    },
  });

  for (const [i, vip] of publicVips.entries()) await claim(`web-${i}`, vip, 'public');
  await claim('internal', privateVip, 'private');
}
await setup.step(createObjects(), async () => undefined);

const macOf = new Map(topo.nodes.map((n) => [n.name, n.mac] as const));
const announcedBy = async (name: string) => (await claims.get(name, 'tenant-a')).status;

for (const n of topo.nodes)
  speakers.start(n.name, ['--lease-duration', '2s', '--renew-period', '500ms', '--probe-timeout', '1s']);

async function expectOwners(t: Test, candidates: string[]): Promise<void> {
  for (const [i, vip] of publicVips.entries()) {
    const owner = rendezvousOwner(vip, candidates)!;
    await eventually(
      `${vip} answered by ${owner}`,
      async () => {
        const r = await arpingReplies(topo, vip, 2, 0.05);
        return r.length === 2 && r.every((m) => m === macOf.get(owner));
      },
      60_000,
      200,
    );
    const status = await eventually(
      `web-${i} reports ${owner}`,
      async () => {
        const s = await announcedBy(`web-${i}`);
        return s?.announcedBy === owner ? s : undefined;
      },
      60_000,
      200,
    );
    const cond = status.conditions?.find((c) => c.type === 'Announced');
    t.equal(cond?.status, 'True', `${vip}: Announced True, by ${owner}`);
    t.match(cond?.message, new RegExp(`node ${owner} answers ARP for ${vip.replace(/\./g, '\\.')} on eth0`));
  }
}

t.test('the announcement selects nodes and pools; the claims name the owner', async (t) => {
  await expectOwners(t, ['lb-1', 'lb-2']);
  t.same(await arpingReplies(topo, privateVip, 2, 0.05), [], 'a pool no announcement selects is not answered');
  const priv = await eventually(
    'the private claim reports why',
    async () => {
      const s = await announcedBy('internal');
      return s?.conditions?.some((c) => c.type === 'Announced') ? s : undefined;
    },
    60_000,
    200,
  );
  const cond = priv.conditions!.find((c) => c.type === 'Announced')!;
  t.equal(cond.status, 'False');
  t.equal(cond.reason, 'NoMatchingAnnouncement');
  t.equal(priv.announcedBy, undefined);
});

t.test('widening the node selector spreads the VIPs over all three nodes', async (t) => {
  await announcements.update('public', undefined, (cur) => ({
    ...cur,
    spec: { ...cur.spec, nodeSelector: undefined },
  }));
  await expectOwners(t, ['lb-1', 'lb-2', 'lb-3']);
});

t.test('kill -9 of an owner moves its claims to the next node, and the status follows', async (t) => {
  const vip = publicVips[0]!;
  const victim = rendezvousOwner(vip, ['lb-1', 'lb-2', 'lb-3'])!;
  await speakers.procs.get(victim)!.kill();
  await expectOwners(
    t,
    ['lb-1', 'lb-2', 'lb-3'].filter((n) => n !== victim),
  );
});
