// `npm run bench -- e2e [--services 50] [--failover-runs 5] [--log-dir DIR]`: the whole system, end to end, in the topology of
// lab/topology.ts with every program as a real process and the speakers at their default settings.
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
import { cleanupStale } from '../../lab/cleanup-stale.ts';
import { Ledger } from '../../lab/ledger.ts';
import { Topology } from '../../lab/topology.ts';
import { createToTraffic, failoverRun, intFlag, log, percentile, round, speakerKill } from './_topology-figures.ts';

async function apiWrites(topo: Topology): Promise<{ claimStatus: number; nodeState: number }> {
  const all = await Promise.all(topo.lbNodes.map(async (n) => (await topo.speakerState(n.name)).apiWrites));
  return all.reduce((a, w) => ({ claimStatus: a.claimStatus + w.claimStatus, nodeState: a.nodeState + w.nodeState }), {
    claimStatus: 0,
    nodeState: 0,
  });
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
