// A map re-created under a running speaker, on a real cilium-agent (issue 11, map identity): the agent is
// restarted with another bpf-lb-map-max while the speaker keeps running, so Cilium unpins its lb maps and pins
// new, larger ones; the speaker still holds the old ones open. Measured, with a client loop on the VIP:
//   - detect: from the services pin naming the new map (polled here every 5 ms) to the speaker finding it;
//   - repair: from the agent being ready again to the first answered request after the last failed one.
// Then the pin is removed outright while the agent is stopped (a remounted bpffs): the claim must stop saying
// Programmed until the agent pins a new map and the speaker has programmed it.
// Used by recreate.test.ts (asserts) and `npm run bench -- cilium --housekeeping` (reports).
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { rmSync } from 'node:fs';
import type { VIPClaim } from '../../src/api/v1alpha1.ts';
import { BpfMap } from '../../src/native/bpf.ts';
import { eventually } from '../../lab/eventually.ts';
import { Ledger } from '../../lab/ledger.ts';
import { Topology } from '../../lab/topology.ts';

export const SERVICES_MAP = 'cilium_lb4_services_v2';
export const NEW_MAP_MAX = 131072;

interface Replacement {
  readonly detectedAt: number;
  readonly reprogrammedAt: number | undefined;
  readonly changes: readonly { name: string; held?: number; pinned?: number }[];
}

interface DataplaneState {
  readonly mapReplacements: number;
  readonly lastReplacement?: Replacement;
  readonly recentReplacements: readonly Replacement[];
}

/** A claim's Programmed condition as seen at one moment. */
export interface ProgrammedSample {
  readonly at: number;
  readonly status: string | undefined;
  readonly reason: string | undefined;
}

export interface RecreateFigures {
  readonly heldId: number;
  readonly newId: number | undefined;
  readonly newMaxEntries: number | undefined;
  readonly pinChangedAt: number | undefined;
  readonly readyAt: number;
  readonly detectedAt: number | undefined;
  readonly reprogrammedAt: number | undefined;
  /** detectedAt − pinChangedAt; 0 when the speaker saw the old pin vanish before the new one existed. */
  readonly detectMs: number | undefined;
  /** The answer that ended the last outage, minus readyAt (0 without outage; undefined: it never ended). */
  readonly repairMs: number | undefined;
  /** Failed requests of the client loop across the whole restart. */
  readonly failedRequests: number;
  /** Every run of failed requests: from the first failure to the next answer (ms since the epoch). */
  readonly outages: readonly { from: number; to: number | undefined }[];
  readonly okRequests: number;
  /** The metric's lines for the services map. */
  readonly replacementsMetric: string;
  /** Programmed as the claim said it while the speaker held the stale map (pinChangedAt .. reprogrammedAt). */
  readonly programmedWhileStale: readonly ProgrammedSample[];
}

export interface VanishFigures {
  /** The claim's Programmed condition once the speaker found the pin gone. */
  readonly whileGone: ProgrammedSample | undefined;
  readonly currentGauge: string | undefined;
  /** After the agent pinned a new map: Programmed again, traffic again. */
  readonly programmedAgain: ProgrammedSample | undefined;
  readonly answeredAgain: boolean;
}

export interface RecreateLab {
  readonly topo: Topology;
  readonly vip: string;
  down(): Promise<void>;
}

export function programmed(claim: VIPClaim | undefined): ProgrammedSample {
  const c = claim?.status?.conditions?.find((x) => x.type === 'Programmed');
  return { at: Date.now(), status: c?.status, reason: c?.reason };
}

function pinnedId(path: string): number | undefined {
  try {
    return BpfMap.pinnedId(path);
  } catch {
    return undefined;
  }
}

function maxEntriesOf(path: string): number | undefined {
  try {
    using m = BpfMap.open(path, { readOnly: true });
    return m.info.maxEntries;
  } catch {
    return undefined;
  }
}

/** One LB node on the newest line, a one-port kube-lb Service answering through Cilium's datapath. */
export async function recreateLab(
  o: { label?: string; line?: string; progress?: (line: string) => void } = {},
): Promise<RecreateLab> {
  const label = o.label ?? 'cilium-recreate';
  const ledger = Ledger.open(label);
  const topo = await Topology.up(ledger, {
    label,
    lbNodes: 1,
    datapath: 'cilium',
    ...(o.line ? { ciliumLine: o.line } : {}),
    ...(o.progress ? { progress: o.progress } : {}),
  });
  const down = async (): Promise<void> => {
    await topo.down();
    rmSync(ledger.dir, { recursive: true, force: true });
  };
  try {
    await topo.createService('c1', 'web', [{ name: 'http', protocol: 'TCP', port: 80 }]);
    const vip = await topo.waitExternalIP('c1', 'web');
    await topo.requestUntilOk('tcp', vip, 80, 60_000);
    await eventually(
      'the claim to say Programmed=True',
      async () => programmed(await topo.claimOf('c1', 'web')).status === 'True',
      60_000,
      200,
    );
    return { topo, vip, down };
  } catch (err) {
    await down();
    throw err;
  }
}

async function dataplaneState(topo: Topology, node: string): Promise<DataplaneState> {
  return ((await topo.speakerState(node)) as unknown as { dataplane: DataplaneState }).dataplane;
}

/** The agent restarted with bpf-lb-map-max changed, the speaker left running. */
export async function recreateRun(lab: RecreateLab, loopIntervalMs = 10, observeMs = 20_000): Promise<RecreateFigures> {
  const { topo, vip } = lab;
  const node = topo.lbNodes[0]!;
  const agent = node.cilium!;
  const path = join(node.mapDir, SERVICES_MAP);
  const heldId = pinnedId(path)!;
  const before = await dataplaneState(topo, node.name);

  // Watchers: the pin (every 5 ms) and the claim (every 100 ms), until told to stop.
  let watching = true;
  let pinChangedAt: number | undefined;
  let newId: number | undefined;
  const samples: ProgrammedSample[] = [];
  const pinWatch = (async () => {
    while (watching && pinChangedAt === undefined) {
      const id = pinnedId(path);
      if (id !== undefined && id !== heldId) {
        pinChangedAt = Date.now();
        newId = id;
      }
      await sleep(5);
    }
  })();
  const claimWatch = (async () => {
    while (watching) {
      samples.push(programmed(await topo.claimOf('c1', 'web').catch(() => undefined)));
      await sleep(100);
    }
  })();

  await topo.startLoop('tcp', vip, 80, loopIntervalMs, 1000);
  await sleep(500);
  const restartAt = Date.now();
  await agent.stop();
  agent.writeConfig({ ...agent.config, 'bpf-lb-map-max': String(NEW_MAP_MAX) });
  agent.start();
  await agent.waitReady();
  const readyAt = Date.now();

  // The agent reloads its datapath around (and after) ready: watch the loop for `observeMs`, recording every
  // outage (first failure → next answer), and then until it has answered steadily for 2 s.
  const outages: { from: number; to: number | undefined }[] = [];
  let seen = await topo.loop();
  for (const until = readyAt + observeMs; ; ) {
    await sleep(20);
    const now = await topo.loop();
    const open = outages.at(-1);
    if (now.fail > seen.fail && (!open || open.to !== undefined))
      outages.push({ from: now.lastFailAt ?? Date.now(), to: undefined });
    if (now.ok > seen.ok && open && open.to === undefined && (now.lastOkAt ?? 0) > (now.lastFailAt ?? 0))
      open.to = now.lastOkAt;
    seen = now;
    const steady = now.lastOkAt !== undefined && now.lastOkAt - (now.lastFailAt ?? 0) > 2000;
    if ((Date.now() > until && steady) || Date.now() > until + 60_000) break;
  }
  const tally = await topo.stopLoop();
  const last = outages.at(-1);
  const repairMs = !last ? 0 : last.to === undefined ? undefined : Math.max(0, last.to - readyAt);

  const after = await eventually(
    'the speaker to report the replacement',
    async () => {
      const s = await dataplaneState(topo, node.name);
      return s.mapReplacements > before.mapReplacements && s.lastReplacement?.reprogrammedAt !== undefined
        ? s
        : undefined;
    },
    30_000,
    100,
  ).catch(() => undefined);
  watching = false;
  await Promise.all([pinWatch, claimWatch]);
  const metrics = await topo.speakerMetrics(node.name);
  // Every series of the services map: the speaker may look between Cilium's unpin and its new pin ("vanished",
  // then "appeared") or after both ("recreated").
  const replacementsMetric = [
    ...metrics.matchAll(
      new RegExp(`^kube_lb_dataplane_map_replacements_total\\{[^}]*map="${SERVICES_MAP}"[^}]*\\} .*$`, 'gm'),
    ),
  ]
    .map((m) => m[0])
    .join('\n');
  // The first replacement after the restart that involves the services map: "recreated"; or "vanished" when the
  // speaker looked between Cilium's unpin and its new pin. Its re-open then fails until the new pin exists and
  // opens that one (reprogrammedAt), with no "appeared" of its own.
  const r = after?.recentReplacements.find(
    (x) => x.detectedAt >= restartAt && x.changes.some((c) => c.name === SERVICES_MAP),
  );
  const staleUntil = r?.reprogrammedAt ?? Date.now();
  return {
    heldId,
    newId: newId ?? pinnedId(path),
    newMaxEntries: maxEntriesOf(path),
    pinChangedAt,
    readyAt,
    detectedAt: r?.detectedAt,
    reprogrammedAt: r?.reprogrammedAt,
    detectMs: r && pinChangedAt !== undefined ? Math.max(0, r.detectedAt - pinChangedAt) : undefined,
    repairMs,
    failedRequests: tally.fail,
    outages,
    okRequests: tally.ok,
    replacementsMetric,
    programmedWhileStale: samples.filter(
      (s) => pinChangedAt !== undefined && s.at >= pinChangedAt && s.at <= staleUntil,
    ),
  };
}

/** The services pin removed while the agent is stopped; then the agent started again. */
export async function vanishRun(lab: RecreateLab): Promise<VanishFigures> {
  const { topo, vip } = lab;
  const node = topo.lbNodes[0]!;
  const agent = node.cilium!;
  await agent.stop();
  rmSync(join(node.mapDir, SERVICES_MAP));
  const whileGone = await eventually(
    'the claim to stop saying Programmed',
    async () => {
      const p = programmed(await topo.claimOf('c1', 'web'));
      return p.status === 'False' ? p : undefined;
    },
    30_000,
    100,
  ).catch(() => undefined);
  const currentGauge = /^kube_lb_dataplane_maps_current(\{[^}]*\})? .*$/m.exec(
    await topo.speakerMetrics(node.name),
  )?.[0];
  agent.start();
  await agent.waitReady();
  const programmedAgain = await eventually(
    'the claim to say Programmed again',
    async () => {
      const p = programmed(await topo.claimOf('c1', 'web'));
      return p.status === 'True' ? p : undefined;
    },
    60_000,
    100,
  ).catch(() => undefined);
  const answeredAgain = await topo.requestUntilOk('tcp', vip, 80, 30_000).then(
    () => true,
    () => false,
  );
  return { whileGone, currentGauge, programmedAgain, answeredAgain };
}
