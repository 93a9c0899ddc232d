// BGP mode benchmark, on the lab topology with a router (lab/bgp-lab.ts): three LB nodes with real Cilium agents
// and FRR, a BIRD router with ECMP and BFD, a remote client behind it.
//
// - announce_ms / withdraw_ms: a Service created in the consumer cluster → its VIP's route in the router's kernel
//   table with all three next hops (allocation, agent, speakers' programming and BGP together); the Service
//   deleted → the route gone. Polled every 20 ms, one Service at a time.
// - ecmp_nodes: LB nodes that carried 60 new connections from the remote client to an eTP Local Service (a backend
//   sees the SNAT address of the LB node that carried the flow).
// - failover_gap_ms: the remote client opens a new connection every 20 ms (100 ms timeout; the lab answers in
//   under a millisecond); an LB node crashes (links down, then speaker SIGKILL: nothing it sends on the way out
//   reaches the router). The gap is from the crash to when the last failed connection was counted (its timeout ran
//   out): the loop is sequential, so every connection after it succeeded, and the outage ended between its sending
//   (failover_gap_lower_ms_p50) and then. With BFD (--bfd-ms, default 50 ms × 3, on both sides) and, for
//   comparison, without it on either side (hold 9 s).
//
// Usage: npm run bench -- bgp [--services N] [--runs N] [--runs-no-bfd N] [--bfd-ms N]
// Last line: {"ecmp_nodes", "announce_ms_p50", "withdraw_ms_p50", "failover_gap_ms_p50", "failover_gap_ms_max", "failover_gap_ms_p50_no_bfd", ...}
import { setTimeout as sleep } from 'node:timers/promises';
import type { BGPPeer } from '../../src/api/v1alpha1.ts';
import { resourceClient } from '../../src/kube/custom-objects.ts';
import { parseAnswer } from '../../lab/backend-pod.ts';
import { createLabBgpObjects, LAB_ASN, waitForwarded } from '../../lab/bgp-lab.ts';
import { eventually } from '../../lab/eventually.ts';
import { Ledger } from '../../lab/ledger.ts';
import { Topology } from '../../lab/topology.ts';

const args = process.argv.slice(2);
const flag = (name: string, def: number): number => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? def : Number(args[i + 1]);
};
const SERVICES = flag('services', 10);
const RUNS = flag('runs', 6);
const RUNS_NO_BFD = flag('runs-no-bfd', 2);
const LOOP_TIMEOUT_MS = 100;
// BFD both ways, × 3. 50 ms is the classic sub-second setting; the lab's e2e stories run at 100 ms (under the full
// suite's load).
const BFD_MS = flag('bfd-ms', 50);

const pct = (xs: readonly number[], p: number): number => {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!);
};

const ledger = Ledger.open('bench-bgp');
const topo = await Topology.up(ledger, {
  label: 'bench-bgp',
  bgp: { bfdIntervalMs: BFD_MS },
  progress: (l) => console.log(l),
  speakerArgs: ['--health-interval=300ms', '--status-min-interval=300ms'],
});
try {
  const kc = topo.lb.kubeConfig;
  const bird = topo.bgp!.bird;
  const peers = resourceClient<BGPPeer>(kc, 'BGPPeer');
  await createLabBgpObjects(kc, { bfd: true, bfdIntervalMs: BFD_MS });
  const established = async (): Promise<void> => {
    await eventually(
      'every node Established',
      async () => {
        const p = await peers.get('router');
        const up = (p.status?.nodes ?? []).filter((n) => n.session === 'Established').length;
        return up === topo.lbNodes.length || undefined;
      },
      120_000,
      100,
    );
  };
  await established();
  console.log('sessions up');

  const hops = async (vip: string): Promise<number> => (await bird.kernelNexthops(`${vip}/32`)).length;
  const announce: number[] = [];
  const withdraw: number[] = [];
  for (let i = 0; i < SERVICES; i++) {
    const name = `svc-${i}`;
    const t0 = performance.now();
    await topo.createService('c1', name, [{ name: 'http', protocol: 'TCP', port: 80 }], {}, { waitProxied: false });
    const vip = await topo.waitExternalIP('c1', name, 60_000, 20);
    await eventually(`${vip} via 3 next hops`, async () => (await hops(vip)) === 3 || undefined, 60_000, 20);
    announce.push(performance.now() - t0);
    const t1 = performance.now();
    await topo.deleteService('c1', name);
    await eventually(`${vip} withdrawn`, async () => (await hops(vip)) === 0 || undefined, 60_000, 20);
    withdraw.push(performance.now() - t1);
    console.log(
      `service ${i}: announce ${Math.round(announce.at(-1)!)} ms, withdraw ${Math.round(withdraw.at(-1)!)} ms`,
    );
  }

  await topo.createService('c1', 'web', [{ name: 'http', protocol: 'TCP', port: 80 }], {
    externalTrafficPolicy: 'Local',
  });
  const vip = await topo.waitExternalIP('c1', 'web');
  await waitForwarded(topo.bgp!, vip, 3);
  const bySnat = new Map(topo.lbNodes.map((n) => [n.backendIp, n.name]));
  const carried = new Map<string, number>();
  for (let i = 0; i < 60; i++) {
    const r = await topo.request('tcp', vip, 80, 2000, 'remote');
    const node = r.ok ? bySnat.get(parseAnswer(r.text)?.from ?? '') : undefined;
    if (node) carried.set(node, (carried.get(node) ?? 0) + 1);
  }
  console.log(`answers per LB node: ${JSON.stringify(Object.fromEntries(carried))}`);

  const failover = async (run: number): Promise<number> => {
    const victim = topo.lbNodes[run % topo.lbNodes.length]!.name;
    await topo.startLoop('tcp', vip, 80, 20, LOOP_TIMEOUT_MS, 'remote');
    await sleep(1000);
    const crashedAt = Date.now();
    await topo.crashNode(victim);
    await eventually(`${victim}'s next hop gone`, async () => (await hops(vip)) === 2 || undefined, 60_000, 20);
    await sleep(1500);
    const tally = await topo.stopLoop('remote');
    // Connections to the dead node fail by timeout, and the loop is sequential (the next connection is sent 20 ms
    // after the last one ended), so the outage ended between the sending of the last failed connection
    // (`lower`: LOOP_TIMEOUT_MS before it was counted) and 20 ms after it was counted (`gap`, the headline).
    const counted = tally.fail > 0 && tally.lastFailAt ? tally.lastFailAt - crashedAt : 0;
    const gap = counted;
    lowerGaps.push(Math.max(0, counted - LOOP_TIMEOUT_MS));
    console.log(
      `run ${run}: ${victim} crashed, gap ${gap} ms (the last failed connection was sent after ${Math.max(0, counted - LOOP_TIMEOUT_MS)} ms; ${tally.fail} of ${tally.ok + tally.fail} failed)`,
    );
    await topo.reviveNode(victim);
    topo.startSpeaker(victim);
    await topo.waitSpeakerReady(victim);
    await established();
    await waitForwarded(topo.bgp!, vip, 3);
    return gap;
  };
  const gaps: number[] = [];
  const lowerGaps: number[] = [];
  for (let r = 0; r < RUNS; r++) gaps.push(await failover(r));
  // Without BFD on either side: the speakers' peer and the router's.
  await peers.update('router', undefined, (p) => {
    const { bfdProfile: _, ...spec } = p.spec!;
    return { ...p, spec };
  });
  await bird.setPeers(topo.lbNodes.map((n) => ({ address: n.frontIp, as: LAB_ASN, bfd: false })));
  await sleep(2000);
  await established();
  const gapsNoBfd: number[] = [];
  for (let r = 0; r < RUNS_NO_BFD; r++) gapsNoBfd.push(await failover(r));

  console.log(
    JSON.stringify({
      ecmp_nodes: carried.size,
      answers_per_node: Object.fromEntries(carried),
      services: SERVICES,
      announce_ms_p50: pct(announce, 50),
      announce_ms_max: pct(announce, 100),
      withdraw_ms_p50: pct(withdraw, 50),
      withdraw_ms_max: pct(withdraw, 100),
      runs: RUNS,
      bfd_ms: BFD_MS,
      failover_gap_ms_p50: pct(gaps, 50),
      failover_gap_ms_max: pct(gaps, 100),
      failover_gap_lower_ms_p50: pct(lowerGaps.slice(0, RUNS), 50),
      runs_no_bfd: RUNS_NO_BFD,
      failover_gap_ms_p50_no_bfd: pct(gapsNoBfd, 50),
    }),
  );
} finally {
  await topo.down();
}
