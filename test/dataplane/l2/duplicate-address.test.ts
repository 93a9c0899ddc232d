// Duplicate-address probe before a VIP is first announced, on a real segment: a client, two LB nodes and a
// foreign host in network namespaces on one bridge, two standalone speakers against a real API server. A VIP the
// foreign host already holds is not announced, and its claim says why; once the host lets it go, kube-lb announces
// it. A takeover between LB nodes is not probed. And what the probe adds to a first announcement, measured.
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import { createNodes } from '../../../lab/controlplane.ts';
import { arpingReplies } from '../../../lab/l2-topology.ts';
import { allocatedClaim, startL2Stand } from '../../../lab/l2-stand.ts';
import { eventually } from '../../../lab/eventually.ts';
import { startCapture } from '../../../lab/pcap.ts';
import { decodeArp, isGratuitous } from '../../../src/core/l2/arp-frame.ts';
import { rendezvousOwner } from '../../../src/core/l2/rendezvous.ts';
import { resourceClient } from '../../../src/kube/custom-objects.ts';
import { API_VERSION, type L2Announcement, type VIPClaim, type VIPPool } from '../../../src/api/v1alpha1.ts';

const { ledger, setup, cluster, topo, speakers } = await startL2Stand(t, 'dad', 2);
const kc = cluster.kubeConfig;
const claims = resourceClient<VIPClaim>(kc, 'VIPClaim');
const names = topo.nodes.map((n) => n.name);
const macOf = new Map(topo.nodes.map((n) => [n.name, n.mac] as const));
const TAKEN = '10.66.0.130';
// The foreign host: an ordinary machine on the client segment that already uses TAKEN as its own address.
const foreign = await setup.step(topo.addHost('l2f', TAKEN), async () => undefined);
const claim = (name: string, vip: string) => allocatedClaim(claims, 'tenant-a', name, vip, 'public');

await setup.step(
  (async () => {
    const core = kc.makeApiClient(k8s.CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: 'kube-lb-system' } } });
    await core.createNamespace({ body: { metadata: { name: 'tenant-a' } } });
    await createNodes(
      kc,
      topo.nodes.map((n) => ({ name: n.name, internalIP: n.ip })),
    );
    await speakers.connectApi();
    await resourceClient<VIPPool>(kc, 'VIPPool').create({
      apiVersion: API_VERSION,
      kind: 'VIPPool',
      metadata: { name: 'public' },
      spec: { addresses: ['10.66.0.100-10.66.0.140'] },
    });
    await resourceClient<L2Announcement>(kc, 'L2Announcement').create({
      apiVersion: API_VERSION,
      kind: 'L2Announcement',
      metadata: { name: 'all' },
      spec: { interfaces: ['eth0'] },
    });
  })(),
  async () => undefined,
);

const until = <T>(what: string, probe: () => Promise<T | undefined>) => eventually(what, probe, 60_000, 100);
const announced = async (name: string) =>
  (await claims.get(name, 'tenant-a')).status?.conditions?.find((c) => c.type === 'Announced');
/** The log of `node`'s first speaker run (runs are numbered across nodes: speaker-lb-2-2.log). */
const logOf = (node: string) => {
  const first = readdirSync(topo.dir)
    .filter((f) => f.startsWith(`speaker-${node}-`))
    .sort((a, b) => Number(/-(\d+)\.log$/.exec(a)?.[1]) - Number(/-(\d+)\.log$/.exec(b)?.[1]))[0]!;
  return readFileSync(`${topo.dir}/${first}`, 'utf8');
};
// Backoff capped at 2 s so the test sees the freed address announced quickly; status written 200 ms after it holds.
const common = [
  '--lease-duration',
  '2s',
  '--renew-period',
  '500ms',
  '--probe-timeout',
  '1s',
  '--dad-retry-max',
  '2s',
  '--status-settle',
  '200ms',
];
for (const n of names) speakers.start(n, common);

/** Median of what a first announcement takes: claim status written → first gratuitous ARP from its owner. */
async function firstAnnouncementMs(vips: readonly string[], prefix: string): Promise<number[]> {
  const out: number[] = [];
  for (const [i, vip] of vips.entries()) {
    const owner = rendezvousOwner(vip, names)!;
    const capture = await startCapture(ledger, topo.client.ns, 'eth0', 'arp', `${topo.dir}/${prefix}-${i}.pcap`);
    const at = Date.now() / 1000;
    await claim(`${prefix}-${i}`, vip);
    await until(`${vip} answered by ${owner}`, async () =>
      (await arpingReplies(topo, vip, 1, 0.05))[0] === macOf.get(owner) ? true : undefined,
    );
    const frames = await capture.stop();
    const first = frames.find((f) => {
      const p = decodeArp(f.data);
      return p !== undefined && isGratuitous(p) && p.senderIp === vip && p.senderMac === macOf.get(owner);
    });
    if (first) out.push(Math.round((first.time - at) * 1000));
  }
  return out;
}

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// Both speakers members before any claim: a node alone for a moment owns every VIP, and would probe in the other's stead.
await until("both speakers' Leases", async () => {
  const leases = await kc.makeApiClient(k8s.CoordinationV1Api).listNamespacedLease({ namespace: 'kube-lb-system' });
  return names.every((n) => leases.items.some((l) => l.metadata?.name === `speaker-l2-${n}`)) || undefined;
});
await new Promise((r) => setTimeout(r, 1500)); // each sees the other's Lease (renewed every 500 ms) and heartbeats

t.test(
  'a VIP a foreign host holds is not announced; the claim names the VIP and the MAC; once free it is announced',
  async (t) => {
    await claim('taken', TAKEN);
    const owner = rendezvousOwner(TAKEN, names)!;
    const cond = await until('taken reports AddressInUse', async () => {
      const c = await announced('taken');
      return c?.reason === 'AddressInUse' ? c : undefined;
    });
    t.equal(cond.status, 'False');
    t.match(
      cond.message,
      `${TAKEN} is in use on the segment: ${foreign.mac} answered the duplicate-address probe of node ${owner} on eth0`,
    );
    t.same(
      await arpingReplies(topo, TAKEN, 3, 0.05),
      [foreign.mac, foreign.mac, foreign.mac],
      'only the foreign host answers',
    );
    t.match(logOf(owner), /L2_ADDRESS_IN_USE/, 'the owner logs the conflict');
    // Retries keep finding it in use: the status stays, and kube-lb never answers.
    await new Promise((r) => setTimeout(r, 3000));
    t.same(
      await arpingReplies(topo, TAKEN, 3, 0.05),
      [foreign.mac, foreign.mac, foreign.mac],
      'still only the foreign host, after retries',
    );
    t.equal((await announced('taken'))?.reason, 'AddressInUse');

    await foreign.host.ip('addr', 'del', `${TAKEN}/24`, 'dev', 'eth0');
    await until(`${TAKEN} answered by ${owner} once free`, async () => {
      const r = await arpingReplies(topo, TAKEN, 2, 0.05);
      return r.length === 2 && r.every((m) => m === macOf.get(owner)) ? r : undefined;
    });
    const after = await until('taken reports Announced', async () => {
      const c = await announced('taken');
      return c?.status === 'True' ? c : undefined;
    });
    t.match(after.message, `node ${owner} answers ARP for ${TAKEN}`);
  },
);

let withProbe: number[] = [];
t.test(
  'first announcements are probed (and take the probe longer); every LB node agrees the address is free',
  async (t) => {
    withProbe = await firstAnnouncementMs(
      ['10.66.0.101', '10.66.0.102', '10.66.0.103', '10.66.0.104', '10.66.0.105'],
      'new',
    );
    t.equal(withProbe.length, 5);
    const logs = names.map((n) => logOf(n)).join('\n');
    for (const vip of ['10.66.0.101', '10.66.0.105'])
      t.match(
        logs,
        new RegExp(`"vip":"${vip.replace(/\./g, '\\.')}","ms":\\d+,"msg":"duplicate-address probe: free`),
        `${vip} was probed`,
      );
    t.comment(
      `claim status → first gratuitous ARP, probe on (3 probes 50 ms apart, 100 ms wait): ${withProbe.join(', ')} ms, median ${median(withProbe)}`,
    );
  },
);

t.test('a takeover between LB nodes is not probed', async (t) => {
  const vip = '10.66.0.101';
  const victim = rendezvousOwner(vip, names)!;
  const heir = names.find((n) => n !== victim)!;
  const before = (logOf(heir).match(/duplicate-address probe/g) ?? []).length;
  await speakers.procs.get(victim)!.kill();
  await until(`${vip} answered by ${heir}`, async () =>
    (await arpingReplies(topo, vip, 1, 0.05))[0] === macOf.get(heir) ? true : undefined,
  );
  t.equal(
    (logOf(heir).match(/duplicate-address probe/g) ?? []).length,
    before,
    `the heir took ${vip} over without a probe`,
  );
});

t.test('the same first announcements without the probe (the latency the probe adds)', async (t) => {
  await speakers.stopAll();
  await speakers.connectApi();
  for (const n of names) speakers.start(n, [...common, '--dad-probes', '0']);
  // Both speakers up and agreed (a VIP announced before answered by its owner) before anything is timed.
  const settled = '10.66.0.102';
  await until(`${settled} answered again`, async () =>
    (await arpingReplies(topo, settled, 1, 0.05))[0] === macOf.get(rendezvousOwner(settled, names)!) ? true : undefined,
  );
  const without = await firstAnnouncementMs(
    ['10.66.0.111', '10.66.0.112', '10.66.0.113', '10.66.0.114', '10.66.0.115'],
    'plain',
  );
  t.equal(without.length, 5);
  t.comment(`claim status → first gratuitous ARP, probe off: ${without.join(', ')} ms, median ${median(without)}`);
  t.comment(`added by the probe (medians): ${median(withProbe)! - median(without)!} ms`);
});
