// `npm run bench -- cilium [--lines 1.19,1.20] [--services 50] [--failover-runs 5] [--housekeeping [--restarts N]]`:
// kube-lb on real Cilium.
//  - per line (test/cilium/lines.json; default all): the proof of test/cilium/story.ts in random mode with every
//    mode kube-lb must refuse, then in maglev mode; reported per module version as traffic_ok (TCP and UDP on
//    every port from every consumer node, in both modes), cilium_service_ok (a Service Cilium serves keeps
//    answering and its entries stay byte-identical), cilium_dbg_ok (cilium-dbg of the same version lists kube-lb's
//    frontends and backends), bpftool_ok (bpftool's dump decodes) and refused_modes. A line whose agent cannot
//    run here says why in `error`.
//  - on the newest line, three LB nodes: create → first answer through the VIP for `services` Services, one after
//    the other (baseline from the same run: create → EXTERNAL-IP), and the failover gap when the owning LB node
//    dies (as scripts/bench/e2e.ts measures them).
//  - per line too, and with --housekeeping only this (default line: the newest): Cilium's housekeeping under a running
//    speaker, each with a 10 ms client loop on the VIP (test/cilium/housekeeping-story.ts, recreate-story.ts):
//    the loop alone as the control (quiet_failed_requests), an on-demand prune (1.18+; prune_failed_requests,
//    prune_written_back_entries: back before JavaScript saw them), an agent restart
//    (restart_failed_requests, restart_gap_ms: the longest run of failed requests; --restarts N repeats it, and
//    each restart is followed by the same one with the loop on a Service Cilium serves itself, the control:
//    restart_control_failed_requests), and the agent restarted with
//    another bpf-lb-map-max (recreate_detect_ms: services pin re-created → the speaker found it;
//    recreate_repair_ms: agent ready → first answer after the last failed request; recreate_failed_requests);
//    rewrite_gap_ms_max is the speaker's longest delete-to-rewrite over the prune and the restart;
//    prune_id_moves and restart_id_moves count IDs kube-lb gave up (0 expected: housekeeping only deletes), and
//    restart_maps_replaced the maps the restarted agent re-created.
// Progress goes to stderr; the last stdout line is one JSON object.
import { rmSync } from 'node:fs';
import { cleanupStale } from '../../lab/cleanup-stale.ts';
import { CILIUM_LINES, ciliumBuild, NEWEST_CILIUM_LINE } from '../../lab/cilium-agent.ts';
import { Ledger } from '../../lab/ledger.ts';
import { Topology } from '../../lab/topology.ts';
import { provesLine, recordingChecks, type StoryFigures } from '../../test/cilium/story.ts';
import { recreateLab, recreateRun } from '../../test/cilium/recreate-story.ts';
import {
  ciliumOwnTarget,
  pruneRun,
  quietRun,
  restartRun,
  type HousekeepingFigures,
} from '../../test/cilium/housekeeping-story.ts';
import { createToTraffic, failoverRun, intFlag, log, percentile, round } from './_topology-figures.ts';

interface LineResult {
  traffic_ok: boolean;
  cilium_service_ok: boolean;
  cilium_dbg_ok: boolean;
  bpftool_ok: boolean;
  refused_modes: string[];
  /** The agent's start to ready (datapath attached) and its RSS while serving, in random mode. */
  agent_ready_ms?: number;
  agent_rss_mib?: number;
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
    let figures: StoryFigures | undefined;
    try {
      log(`Cilium ${version}: random mode, then each mode kube-lb must refuse`);
      figures = await provesLine(random, { line, maglev: false, refusals: true });
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
      refused_modes: figures?.refused ?? [],
      ...(figures?.agentReadyMs !== undefined ? { agent_ready_ms: Math.round(figures.agentReadyMs) } : {}),
      ...(figures?.agentRssMiB !== undefined ? { agent_rss_mib: Math.round(figures.agentRssMiB) } : {}),
      seconds: round((performance.now() - started) / 1000),
      ...(failures.length > 0 ? { failures } : {}),
    };
    log(`Cilium ${version}: ${JSON.stringify(result)}`);
    return [version, result];
  } catch (err) {
    const error = err instanceof Error ? err.message.split('\n').slice(0, 3).join(' ') : String(err);
    log(`Cilium ${version}: ${error}`);
    const none = {
      traffic_ok: false,
      cilium_service_ok: false,
      cilium_dbg_ok: false,
      bpftool_ok: false,
      refused_modes: [],
    };
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

/** The longest run of failed requests (ms), 0 when none; an outage that never ended counts to now. */
function longestOutage(outages: readonly { from: number; to: number | undefined }[]): number {
  return Math.max(0, ...outages.map((o) => (o.to ?? o.from) - o.from));
}

async function housekeepingFigures(
  line: string,
  restarts: number,
): Promise<[string, Record<string, number | string | undefined>]> {
  const version = ciliumBuild(line).version.replace(/^v/, '');
  const lab = await recreateLab({ label: 'bench-housekeeping', line, progress: (l) => log(`- ${l}`) });
  try {
    log(`Cilium ${version}: the client loop alone (the control)`);
    const q = await quietRun(lab);
    const figures: Record<string, number | string | undefined> = {
      quiet_failed_requests: q.failedRequests,
      quiet_requests: q.failedRequests + q.okRequests,
    };
    // lb/prune is the statedb reconciler's command: 1.18 and newer.
    if (Number(line.split('.')[1]) >= 18) {
      log(`Cilium ${version}: lb/prune under a running speaker`);
      const p = await pruneRun(lab);
      Object.assign(figures, {
        prune_failed_requests: p.failedRequests,
        // When requests failed: [from, to] ms after the prune command started.
        prune_outages_ms: JSON.stringify(p.outages.map((o) => [o.from, o.to ?? null, o.error ?? null])),
        prune_requests: p.failedRequests + p.okRequests,
        prune_written_back_entries: p.writtenBack,
        prune_addon_write_backs_over_1ms: p.addonWriteBacksOver1ms,
        prune_event_restored_entries: p.eventRestored,
        prune_pass_repaired_entries: p.passRepaired,
        prune_id_moves: p.idMoves,
      });
    }
    // Agent restarts, each followed by the control: the same restart with the loop on a Service Cilium serves
    // itself, so what the restart costs Cilium's own Services is measured beside what it costs kube-lb's VIP.
    const control = await ciliumOwnTarget(lab);
    const runs: HousekeepingFigures[] = [];
    const controls: HousekeepingFigures[] = [];
    for (let i = 1; i <= restarts; i++) {
      log(`Cilium ${version}: agent restart ${i} of ${restarts} under a running speaker, the loop on kube-lb's VIP`);
      runs.push(await restartRun(lab));
      log(`Cilium ${version}: agent restart ${i} of ${restarts}, the loop on Cilium's own Service (the control)`);
      controls.push(await restartRun(lab, 10, control));
    }
    const sum = (rs: HousekeepingFigures[], f: (r: HousekeepingFigures) => number): number =>
      rs.reduce((n, r) => n + f(r), 0);
    const outages = (rs: HousekeepingFigures[]): string =>
      JSON.stringify(rs.flatMap((r, i) => r.outages.map((o) => [i + 1, o.from, o.to ?? null, o.error ?? null])));
    Object.assign(figures, {
      change_detection: runs.at(-1)!.detection.mode,
      restarts,
      restart_failed_requests: sum(runs, (r) => r.failedRequests),
      restart_requests: sum(runs, (r) => r.failedRequests + r.okRequests),
      restart_gap_ms: Math.max(...runs.map((r) => longestOutage(r.outages))),
      // [restart, from, to, error]: ms after the restart began, and the client's error.
      restart_outages_ms: outages(runs),
      restart_written_back_entries: sum(runs, (r) => r.writtenBack),
      restart_event_restored_entries: sum(runs, (r) => r.eventRestored),
      restart_id_moves: sum(runs, (r) => r.idMoves),
      restart_maps_replaced: sum(runs, (r) => r.mapReplacements),
      // Service entries the addon wrote back more than 1 ms after Cilium's delete (a SYN could meet the gap).
      restart_addon_write_backs_over_1ms: sum(runs, (r) => r.addonWriteBacksOver1ms),
      addon_write_back_max_ms: Math.round(Math.max(...runs.map((r) => r.addonWriteBackMaxMs)) * 1000) / 1000,
      restart_control_failed_requests: sum(controls, (r) => r.failedRequests),
      restart_control_requests: sum(controls, (r) => r.failedRequests + r.okRequests),
      restart_control_outages_ms: outages(controls),
      rewrite_gap_ms_max: Math.round(Math.max(...[...runs, ...controls].map((r) => r.gapMaxMs)) * 10) / 10,
    });
    log(`Cilium ${version}: lb maps re-created under a running speaker`);
    const f = await recreateRun(lab);
    Object.assign(figures, {
      recreate_detect_ms: f.detectMs,
      recreate_repair_ms: f.repairMs,
      recreate_failed_requests: f.failedRequests,
      recreate_requests: f.failedRequests + f.okRequests,
      ...(f.newMaxEntries === 131072
        ? {}
        : { error: `the services map was not re-created (max_entries ${f.newMaxEntries})` }),
    });
    log(`Cilium ${version}: ${JSON.stringify(figures)}`);
    return [version, figures];
  } catch (err) {
    const error = err instanceof Error ? err.message.split('\n').slice(0, 3).join(' ') : String(err);
    log(`Cilium ${version}: ${error}`);
    return [version, { error }];
  } finally {
    await lab.down();
  }
}

async function main(): Promise<void> {
  const i = process.argv.indexOf('--lines');
  const r = process.argv.indexOf('--restarts');
  const restarts = r === -1 ? 1 : Number(process.argv[r + 1]);
  if (!Number.isInteger(restarts) || restarts < 1)
    throw new Error(`--restarts takes a count of 1 or more, not ${process.argv[r + 1]}`);
  cleanupStale();
  if (process.argv.includes('--housekeeping')) {
    const lines = i === -1 ? [NEWEST_CILIUM_LINE] : (process.argv[i + 1] ?? '').split(',').filter(Boolean);
    const out: Record<string, unknown> = {};
    for (const line of lines) {
      const [version, figures] = await housekeepingFigures(line, restarts);
      out[version] = figures;
    }
    console.log(JSON.stringify(out));
    return;
  }
  const lines = i === -1 ? CILIUM_LINES : (process.argv[i + 1] ?? '').split(',').filter(Boolean);
  const perLine: Record<string, LineResult & Record<string, unknown>> = {};
  for (const line of lines) {
    const [version, result] = await proveLine(line);
    const [, housekeeping] = await housekeepingFigures(line, restarts);
    perLine[version] = { ...result, ...housekeeping };
  }
  const newest = await newestFigures(intFlag('services', 50), intFlag('failover-runs', 5));
  console.log(JSON.stringify({ ...perLine, ...newest }));
}

await main();
