// `npm run bench -- cilium [--lines 1.19,1.20] [--services 50] [--failover-runs 5]`: kube-lb on real Cilium.
//  - per line (test/cilium/lines.json; default all): the proof of test/cilium/story.ts in random mode with every
//    mode kube-lb must refuse, then in maglev mode; reported per module version as traffic_ok (TCP and UDP on
//    every port from every consumer node, in both modes), cilium_service_ok (a Service Cilium serves keeps
//    answering and its entries stay byte-identical), cilium_dbg_ok (cilium-dbg of the same version lists kube-lb's
//    frontends and backends), bpftool_ok (bpftool's dump decodes) and refused_modes. A line whose agent cannot
//    run here says why in `error`.
//  - on the newest line, three LB nodes: create → first answer through the VIP for `services` Services, one after
//    the other (baseline from the same run: create → EXTERNAL-IP), and the failover gap when the owning LB node
//    dies (as scripts/bench/e2e.ts measures them).
// Progress goes to stderr; the last stdout line is one JSON object.
import { rmSync } from 'node:fs';
import { cleanupStale } from '../../test/support/cleanup-stale.ts';
import { CILIUM_LINES, ciliumBuild, NEWEST_CILIUM_LINE } from '../../test/support/cilium-agent.ts';
import { Ledger } from '../../test/support/ledger.ts';
import { Topology } from '../../test/support/topology.ts';
import { provesLine, recordingChecks } from '../../test/cilium/story.ts';
import { createToTraffic, failoverRun, intFlag, log, percentile, round } from './_topology-figures.ts';

interface LineResult {
  traffic_ok: boolean;
  cilium_service_ok: boolean;
  cilium_dbg_ok: boolean;
  bpftool_ok: boolean;
  refused_modes: string[];
  seconds: number;
  failures?: string[];
  error?: string;
}

async function proveLine(line: string): Promise<[string, LineResult]> {
  const started = performance.now();
  let version = line;
  try {
    version = ciliumBuild(line).version.replace(/^v/, '');
    const random = recordingChecks();
    const maglev = recordingChecks();
    let refused: string[] = [];
    try {
      log(`Cilium ${version}: random mode, then each mode kube-lb must refuse`);
      refused = await provesLine(random, { line, maglev: false, refusals: true });
    } finally {
      await random.runTeardowns();
    }
    try {
      log(`Cilium ${version}: maglev mode`);
      await provesLine(maglev, { line, maglev: true });
    } finally {
      await maglev.runTeardowns();
    }
    const both = (g: Parameters<typeof random.passed>[0]): boolean => random.passed(g) && maglev.passed(g);
    const failures = [...random.failures, ...maglev.failures.map((f) => `maglev: ${f}`)];
    const result: LineResult = {
      traffic_ok: both('traffic'),
      cilium_service_ok: both('ciliumService'),
      cilium_dbg_ok: both('ciliumDbg'),
      bpftool_ok: both('bpftool'),
      refused_modes: refused,
      seconds: round((performance.now() - started) / 1000),
      ...(failures.length > 0 ? { failures } : {}),
    };
    log(`Cilium ${version}: ${JSON.stringify(result)}`);
    return [version, result];
  } catch (err) {
    const error = err instanceof Error ? err.message.split('\n').slice(0, 3).join(' ') : String(err);
    log(`Cilium ${version}: ${error}`);
    const none = { traffic_ok: false, cilium_service_ok: false, cilium_dbg_ok: false, bpftool_ok: false, refused_modes: [] };
    return [version, { ...none, seconds: round((performance.now() - started) / 1000), error }];
  }
}

async function newestFigures(services: number, runs: number): Promise<Record<string, number | string>> {
  const ledger = Ledger.open('bench-cilium');
  const topo = await Topology.up(ledger, {
    label: 'bench-cilium',
    datapath: 'cilium',
    ciliumLine: NEWEST_CILIUM_LINE,
    tenants: [{ name: 'c1' }],
    speakerDefaults: true,
    progress: (l) => log(`- ${l}`),
  });
  try {
    const created = await createToTraffic(topo, services);
    const gaps: number[] = [];
    for (let r = 0; r < runs; r++) gaps.push(await failoverRun(topo, created.vips[r % created.vips.length]!));
    return {
      cilium: topo.cilium!.version,
      lb_nodes: topo.lbNodes.length,
      services,
      create_to_traffic_ms_p50: round(percentile(created.traffic, 50)),
      create_to_traffic_ms_p99: round(percentile(created.traffic, 99)),
      baseline_create_to_external_ip_ms_p99: round(percentile(created.externalIp, 99)),
      failover_runs: runs,
      failover_gap_ms_p50: round(percentile(gaps, 50)),
      failover_gap_ms_max: round(Math.max(...gaps)),
    };
  } finally {
    await topo.down();
    rmSync(ledger.dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const i = process.argv.indexOf('--lines');
  const lines = i === -1 ? CILIUM_LINES : (process.argv[i + 1] ?? '').split(',').filter(Boolean);
  cleanupStale();
  const perLine: Record<string, LineResult> = {};
  for (const line of lines) {
    const [version, result] = await proveLine(line);
    perLine[version] = result;
  }
  const newest = await newestFigures(intFlag('services', 50), intFlag('failover-runs', 5));
  console.log(JSON.stringify({ ...perLine, ...newest }));
}

await main();
