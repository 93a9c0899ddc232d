// `npm run bench -- e2e [--services 50] [--failover-runs 5] [--log-dir DIR]`: the whole system, end to end, in the topology of
// test/support/topology.ts with every program as a real process and the speakers at their default settings.
//  - create → traffic: a LoadBalancer Service is created in the consumer cluster; the clock stops at the first
//    successful HTTP request from the client through its VIP (the VIP is read from the Service's status, as a
//    user would). Services are created one after the other and stay, so later ones land on a busier system.
//    Baseline measured in the same run: create → EXTERNAL-IP (the control-plane part alone).
//  - failover gap: the LB node that answers ARP for a VIP dies (speaker SIGKILLed, links down); the clock stops at
//    the client's first successful request afterwards (100 ms per attempt). The node is revived between runs.
//  - speaker killed: only the owner's speaker is SIGKILLed (the node keeps forwarding); failed requests of a
//    client loop (one request every 20 ms) across the ownership change.
// Progress goes to stderr; the last stdout line is one JSON object.
import { rmSync } from 'node:fs';
import { cleanupStale } from '../../test/support/cleanup-stale.ts';
import { Ledger } from '../../test/support/ledger.ts';
import { parseAnswer } from '../../test/support/nodeport-responder.ts';
import { eventually, Topology } from '../../test/support/topology.ts';

function intFlag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i === -1 ? undefined : Number(process.argv[i + 1]);
  return v !== undefined && Number.isInteger(v) && v > 0 ? v : fallback;
}

/** Nearest-rank percentile. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const round = (n: number): number => Math.round(n * 10) / 10;
const log = (line: string): void => void process.stderr.write(`${line}\n`);

async function createToTraffic(topo: Topology, count: number): Promise<{ traffic: number[]; externalIp: number[]; vips: string[] }> {
  const traffic: number[] = [];
  const externalIp: number[] = [];
  const vips: string[] = [];
  for (let i = 0; i < count; i++) {
    const name = `svc-${String(i).padStart(3, '0')}`;
    const t0 = performance.now();
    await topo.createService('c1', name, [{ name: 'http', protocol: 'TCP', port: 80 }]);
    const vip = await topo.waitExternalIP('c1', name, 60_000, 10);
    const t1 = performance.now();
    await topo.requestUntilOk('tcp', vip, 80, 60_000, 200);
    const t2 = performance.now();
    externalIp.push(t1 - t0);
    traffic.push(t2 - t0);
    vips.push(vip);
    log(`${name} ${vip}: EXTERNAL-IP after ${Math.round(t1 - t0)} ms, first answer after ${Math.round(t2 - t0)} ms`);
  }
  return { traffic, externalIp, vips };
}

async function failoverRun(topo: Topology, vip: string): Promise<number> {
  const owner = await eventually('an agreed owner', () => topo.announcedOwner(vip), 60_000, 100);
  await eventually(`traffic through ${owner}`, async () => {
    const r = await topo.request('tcp', vip, 80, 500);
    return r.ok && parseAnswer(r.text)?.from === topo.lbNode(owner).backendIp;
  }, 60_000, 100);
  const crashed = performance.now();
  await topo.crashNode(owner);
  await topo.requestUntilOk('tcp', vip, 80, 60_000, 100);
  const gap = performance.now() - crashed;
  log(`failover: ${owner} died, first answer after ${Math.round(gap)} ms`);
  await topo.reviveNode(owner);
  topo.startSpeaker(owner);
  await topo.waitSpeakerReady(owner);
  await eventually('three live speakers', async () => (await topo.speakerState(owner)).live.length === topo.lbNodes.length, 60_000, 200);
  return gap;
}

/**
 * Only the owner's speaker dies (SIGKILL), its node keeps forwarding: the client keeps sending to it until the new
 * owner's gratuitous ARP arrives, and both nodes hold the same entries, so no request should fail.
 */
async function speakerKill(topo: Topology, vip: string): Promise<{ ok: number; fail: number }> {
  const owner = await eventually('an agreed owner', () => topo.announcedOwner(vip), 60_000, 100);
  await topo.startLoop('tcp', vip, 80, 20, 1000);
  await eventually('the loop runs', async () => (await topo.loop()).ok >= 10, 30_000, 100);
  await topo.killSpeaker(owner);
  await eventually('another node owns the VIP', async () => {
    const o = await topo.announcedOwner(vip);
    return o !== undefined && o !== owner;
  }, 60_000, 100);
  const at = await topo.loop();
  await eventually('100 more requests', async () => (await topo.loop()).ok >= at.ok + 100, 60_000, 100);
  const tally = await topo.stopLoop();
  log(`speaker of ${owner} killed: ${tally.fail} of ${tally.ok + tally.fail} requests failed`);
  topo.startSpeaker(owner);
  await topo.waitSpeakerReady(owner);
  await eventually('three live speakers', async () => (await topo.speakerState(owner)).live.length === topo.lbNodes.length, 60_000, 200);
  return { ok: tally.ok, fail: tally.fail };
}

async function apiWrites(topo: Topology): Promise<{ claimStatus: number; nodeState: number }> {
  const all = await Promise.all(topo.lbNodes.map(async (n) => (await topo.speakerState(n.name)).apiWrites));
  return all.reduce((a, w) => ({ claimStatus: a.claimStatus + w.claimStatus, nodeState: a.nodeState + w.nodeState }), { claimStatus: 0, nodeState: 0 });
}

async function main(): Promise<void> {
  const services = intFlag('services', 50);
  const runs = intFlag('failover-runs', 5);
  cleanupStale();
  const ledger = Ledger.open('bench-e2e');
  const started = performance.now();
  const logIndex = process.argv.indexOf('--log-dir');
  const logDir = logIndex === -1 ? undefined : process.argv[logIndex + 1];
  const topo = await Topology.up(ledger, {
    label: 'bench-e2e',
    tenants: [{ name: 'c1' }],
    speakerDefaults: true,
    ...(logDir ? { logDir } : {}),
    progress: (l) => log(`- ${l}`),
  });
  try {
    log(`topology up in ${Math.round(performance.now() - started)} ms`);
    const created = await createToTraffic(topo, services);
    // Let the status writes of the last Services land before counting them.
    await new Promise((r) => setTimeout(r, 3000));
    const afterCreate = await apiWrites(topo);
    const gaps: number[] = [];
    for (let r = 0; r < runs; r++) gaps.push(await failoverRun(topo, created.vips[r % created.vips.length]!));
    const killed = await speakerKill(topo, created.vips[0]!);
    const result = {
      services,
      lb_nodes: topo.lbNodes.length,
      create_to_traffic_ms_p50: round(percentile(created.traffic, 50)),
      create_to_traffic_ms_p99: round(percentile(created.traffic, 99)),
      create_to_traffic_ms_max: round(Math.max(...created.traffic)),
      baseline_create_to_external_ip_ms_p50: round(percentile(created.externalIp, 50)),
      baseline_create_to_external_ip_ms_p99: round(percentile(created.externalIp, 99)),
      failover_runs: runs,
      failover_gap_ms_p50: round(percentile(gaps, 50)),
      failover_gap_ms_max: round(Math.max(...gaps)),
      speaker_kill_requests: killed.ok + killed.fail,
      speaker_kill_failed_requests: killed.fail,
      // API writes by all speakers while the Services were created (all three nodes together).
      speaker_claim_status_writes: afterCreate.claimStatus,
      speaker_node_state_writes: afterCreate.nodeState,
      claim_status_writes_per_service: round(afterCreate.claimStatus / services),
    };
    await topo.down();
    rmSync(ledger.dir, { recursive: true, force: true });
    console.log(JSON.stringify(result));
  } catch (err) {
    await topo.down();
    rmSync(ledger.dir, { recursive: true, force: true });
    throw err;
  }
}

await main();
