// L2 announcement on a real segment: a client and three LB nodes in network namespaces on one bridge, three
// standalone speakers against a real API server. Every claim here is checked with arping and tcpdump.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { eventually } from '../../../lab/eventually.ts';
import * as k8s from '@kubernetes/client-node';
import { Ledger } from '../../../lab/ledger.ts';
import { startCluster } from '../../../lab/controlplane.ts';
import { startApiRelay } from '../../../lab/api-relay.ts';
import { createL2Topology, arpingDots, arpingReplies, inNs, SetupStack } from '../../../lab/l2-topology.ts';
import { L2Speakers } from '../../../lab/l2-speakers.ts';
import { startCapture } from '../../../lab/pcap.ts';
import { spawnTracked } from '../../../lab/process.ts';
import { ARP_REPLY, ARP_REQUEST, decodeArp, isGratuitous } from '../../../src/core/l2/arp-frame.ts';
import { rendezvousOwner } from '../../../src/core/l2/rendezvous.ts';

const ledger = Ledger.open('l2-announce');
const setup = new SetupStack();
t.teardown(() => setup.unwind());
const cluster = await setup.step(startCluster(ledger, { name: 'l2' }), (c) => c.stop());
const topo = await setup.step(createL2Topology(ledger, 3), (tp) => tp.destroy());
const relay = await setup.step(startApiRelay(ledger, cluster, topo.dir), (r) => r.close());
const speakers = await setup.step(Promise.resolve(new L2Speakers(ledger, topo, relay)), (s) => s.stopAll());
await setup.step(
  (async () => {
    await cluster.kubeConfig
      .makeApiClient(k8s.CoreV1Api)
      .createNamespace({ body: { metadata: { name: 'kube-lb-system' } } });
    await speakers.connectApi();
  })(),
  async () => undefined,
);

const names = topo.nodes.map((n) => n.name);
const macOf = new Map(topo.nodes.map((n) => [n.name, n.mac] as const));
const vips = Array.from({ length: 30 }, (_, i) => topo.vip(i));
// Heartbeat timeout of 1 s: on a loaded 2-core test machine a 500 ms stall of a speaker is not rare, and the
// checks below want a stable owner, not a correct-but-brief ARP flip.
const common = [
  '--vips',
  vips.join(','),
  '--interfaces',
  'eth0',
  '--lease-duration',
  '2s',
  '--renew-period',
  '500ms',
  '--probe-timeout',
  '1s',
];

const until = <T>(what: string, probe: () => Promise<T | undefined>) => eventually(what, probe, 60_000, 200);

/** Waits until `vip` is answered once per request, by `mac`. */
async function answeredBy(vip: string, mac: string): Promise<string[]> {
  return until(`${vip} answered by ${mac}`, async () => {
    const r = await arpingReplies(topo, vip, 2, 0.05);
    return r.length === 2 && r.every((m) => m === mac) ? r : undefined;
  });
}

for (const name of names) speakers.start(name, common);

t.test('every VIP is answered exactly once per request, by its rendezvous owner, and VIPs spread', async (t) => {
  const owners = new Map<string, number>();
  for (const vip of vips) {
    const owner = rendezvousOwner(vip, names)!;
    owners.set(owner, (owners.get(owner) ?? 0) + 1);
    await answeredBy(vip, macOf.get(owner)!);
    const replies = await arpingReplies(topo, vip, 3, 0.05);
    t.same(
      replies,
      [macOf.get(owner), macOf.get(owner), macOf.get(owner)],
      `${vip}: one answer per request, from ${owner}`,
    );
  }
  t.same([...owners.keys()].sort(), names, 'every node owns some');
  for (const [node, n] of owners) t.ok(n <= 15, `${node} owns ${n} of 30`);
});

t.test('the VIP is not a local address: a host service on the owner is not reachable through it', async (t) => {
  const vip = vips[0]!;
  const owner = topo.nodes.find((n) => n.name === rendezvousOwner(vip, names))!;
  const route = await inNs(owner.ns, 'ip', ['route', 'get', vip]);
  t.match(route, /dev kube-lb0/, 'routed to the sink link');
  t.notMatch(route, /^local/, 'not local');
  const server = spawnTracked(
    ledger,
    'host-service',
    'ip',
    [
      'netns',
      'exec',
      owner.ns,
      process.execPath,
      '-e',
      "require('net').createServer((s) => s.end('HTTP/1.0 200 OK\\r\\n\\r\\nhost service\\n')).listen(8080, '0.0.0.0', () => console.log('up'))",
    ],
    { logFile: `${topo.dir}/host-service.log` },
  );
  t.teardown(() => server.stop());
  const viaNode = await until('host service up', async () => {
    const out = await inNs(topo.client.ns, 'curl', ['-s', '--max-time', '1', `http://${owner.ip}:8080/`]);
    return out.includes('host service') ? out : undefined;
  });
  t.match(viaNode, /host service/, 'reachable on the node address');
  const viaVip = await inNs(topo.client.ns, 'curl', ['-s', '--max-time', '1', `http://${vip}:8080/`]).then(
    (out) => ({ ok: true, out }),
    (err: { code?: number }) => ({ ok: false, out: String(err.code) }),
  );
  t.equal(viaVip.ok, false, `not reachable through the VIP (curl exit ${viaVip.out})`);
});

t.test('kill -9 of an owner: another node answers, and its gratuitous ARP is on the wire', async (t) => {
  const vip = vips[0]!;
  const victim = rendezvousOwner(vip, names)!;
  const heir = rendezvousOwner(
    vip,
    names.filter((n) => n !== victim),
  )!;
  const capture = await startCapture(ledger, topo.client.ns, 'eth0', 'arp', `${topo.dir}/kill.pcap`);
  await speakers.procs.get(victim)!.kill();
  await answeredBy(vip, macOf.get(heir)!);
  const frames = (await capture.stop()).map((f) => decodeArp(f.data)).filter((p) => p !== undefined);
  const garps = frames.filter((p) => isGratuitous(p) && p.senderIp === vip);
  t.ok(
    garps.some((p) => p.op === ARP_REQUEST && p.senderMac === macOf.get(heir)),
    'gratuitous request from the new owner',
  );
  t.ok(
    garps.some((p) => p.op === ARP_REPLY && p.senderMac === macOf.get(heir)),
    'gratuitous reply from the new owner',
  );
  t.notOk(
    garps.some((p) => p.senderMac === macOf.get(victim)),
    'nothing from the killed node',
  );
  for (const v of vips.filter((v) => rendezvousOwner(v, names) === victim)) {
    const replies = await arpingReplies(topo, v, 2, 0.05);
    t.same(
      replies,
      replies.map(() =>
        macOf.get(
          rendezvousOwner(
            v,
            names.filter((n) => n !== victim),
          )!,
        ),
      ),
      `${v} moved`,
    );
    t.equal(replies.length, 2, `${v}: one answer per request`);
  }
  speakers.start(victim, common);
  await answeredBy(vip, macOf.get(victim)!);
  t.pass(`${victim} restarted and took ${vip} back`);
});

t.test('graceful stop hands over with no unanswered ARP', async (t) => {
  const vip = vips[1]!;
  const leaver = rendezvousOwner(vip, names)!;
  const heir = rendezvousOwner(
    vip,
    names.filter((n) => n !== leaver),
  )!;
  await answeredBy(vip, macOf.get(leaver)!);
  const dots = arpingDots(topo, vip, 60, 0.05);
  await sleep(500);
  const code = await (async () => {
    const proc = speakers.procs.get(leaver)!;
    await proc.stop(10_000);
    return proc.exited;
  })();
  t.equal(code, 0, 'the speaker exited cleanly after handing over');
  const seen = await dots;
  t.ok(seen.length >= 60, `every request accounted for (${seen.length} marks; a '!' more per double answer)`);
  t.notMatch(seen, /\./, `no unanswered request during the handover (${seen})`);
  t.same(await arpingReplies(topo, vip, 2, 0.05), [macOf.get(heir), macOf.get(heir)], `${heir} answers now`);
  speakers.start(leaver, common);
  await answeredBy(vip, macOf.get(leaver)!);
});

t.test('an owner whose interface goes down hands its VIPs on, and takes them back when it comes up', async (t) => {
  const vip = vips[2]!;
  const owner = topo.nodes.find((n) => n.name === rendezvousOwner(vip, names))!;
  const heir = rendezvousOwner(
    vip,
    names.filter((n) => n !== owner.name),
  )!;
  const leases = cluster.kubeConfig.makeApiClient(k8s.CoordinationV1Api);
  const advertised = async () =>
    (await leases.readNamespacedLease({ name: `speaker-l2-${owner.name}`, namespace: 'kube-lb-system' })).metadata
      ?.annotations?.['kube-lb.io/l2-interfaces'];
  t.equal(await advertised(), 'eth0', 'the Lease advertises eth0');
  await inNs(owner.ns, 'ip', ['link', 'set', 'eth0', 'down']);
  await until('eth0 withdrawn from the Lease', async () => ((await advertised()) === '' ? true : undefined));
  await answeredBy(vip, macOf.get(heir)!);
  t.pass(`${heir} answers while ${owner.name}'s eth0 is down`);
  await inNs(owner.ns, 'ip', ['link', 'set', 'eth0', 'up']);
  await inNs(owner.ns, 'ip', ['route', 'replace', 'default', 'via', topo.client.ip, 'dev', 'eth0']);
  await until('eth0 advertised again', async () => ((await advertised()) === 'eth0' ? true : undefined));
  await answeredBy(vip, macOf.get(owner.name)!);
  t.pass(`${owner.name} answers again (its proxy entry, flushed by the kernel on link down, is back)`);
});

t.test(
  "a route to the VIP that kube-lb did not make is never replaced: that node does not announce it, the others' VIPs go on",
  async (t) => {
    const vip = vips[3]!;
    const other = vips.find((v) => v !== vip && rendezvousOwner(v, names) === rendezvousOwner(vip, names))!;
    const owner = topo.nodes.find((n) => n.name === rendezvousOwner(vip, names))!;
    await answeredBy(vip, macOf.get(owner.name)!);
    const proc = speakers.procs.get(owner.name)!;
    await proc.stop(10_000);
    // The operator's own route for that address (a static /32 out of eth0), made while the speaker was away.
    await inNs(owner.ns, 'ip', ['route', 'add', `${vip}/32`, 'dev', 'eth0', 'proto', 'static']);
    const theirs = async (): Promise<string> => inNs(owner.ns, 'ip', ['route', 'show', 'table', 'main', `${vip}/32`]);
    const before = await theirs();
    const restarted = speakers.start(owner.name, common);
    await answeredBy(other, macOf.get(owner.name)!);
    t.pass(`${owner.name} is back and answers for its other VIPs (${other})`);
    const log = (): string => readFileSync(restarted.logFile, 'utf8');
    await until(`${owner.name} to say why it does not announce ${vip}`, async () =>
      /did not make/.test(log()) ? true : undefined,
    );
    t.match(
      log(),
      new RegExp(`a route to ${vip.replaceAll('.', '\\.')}/32 in the main table exists that kube-lb did not make`),
    );
    t.equal(await theirs(), before, `the operator's route is as it was: ${before.trim()}`);
    t.notOk(
      (await inNs(owner.ns, 'ip', ['neigh', 'show', 'proxy'])).includes(vip),
      'and no proxy entry answers for it on that node',
    );
    await inNs(owner.ns, 'ip', ['route', 'del', `${vip}/32`, 'dev', 'eth0', 'proto', 'static']);
    await answeredBy(vip, macOf.get(owner.name)!);
    t.pass('once the operator removes it, the owner announces the VIP');
  },
);

t.test('with the API server unreachable, every node keeps announcing what it had', async (t) => {
  await speakers.disconnectApi();
  // Well past the 2 s Lease duration: on API time, every Lease has expired.
  await sleep(5000);
  for (const vip of vips) {
    const owner = rendezvousOwner(vip, names)!;
    t.same(await arpingReplies(topo, vip, 1, 0.05), [macOf.get(owner)], `${vip} still answered by ${owner}`);
  }
  await speakers.connectApi();
  for (const vip of vips.slice(0, 5)) {
    const owner = rendezvousOwner(vip, names)!;
    await answeredBy(vip, macOf.get(owner)!);
    t.pass(`${vip} answered by ${owner} after the API returns`);
  }
});
