// Cilium's housekeeping under a running speaker, on a real cilium-agent (issue 11): its prune (`cilium-dbg shell
// -- lb/prune`, what 1.18+ runs every 30 minutes) and an agent restart (which prunes once its tables are
// initialised), each with a client loop on the VIP. Every kube-lb entry Cilium deletes goes back at once: backends
// and revNAT by the kernel write-back before Cilium's delete returns, services (read-only to programs) by the
// addon as it consumes the event, the rest (maglev, source ranges) from its change event in JavaScript; the figures
// say how many, how fast, and what the client saw.
// Used by test/dataplane/cilium/housekeeping.test.ts (asserts) and `npm run bench -- cilium --housekeeping`.
import { setTimeout as sleep } from 'node:timers/promises';
import type { RecreateLab } from './recreate-story.ts';
import type { Topology } from '../../lab/topology.ts';
import { CILIUM_EXTERNAL_IP, ciliumOwnService } from './cilium-own-service.ts';

interface DataplaneStats {
  readonly detection: { readonly mode: 'events' | 'polling'; readonly reason: string };
  readonly eventRestoredEntries: number;
  readonly writtenBackEntries: number;
  readonly eventRestoreGapMaxMs: number;
  readonly addonWriteBacks?: { readonly count: number; readonly over1ms: number; readonly maxMs: number };
  readonly repairedEntries: number;
  readonly passes: number;
  readonly idMoves: { readonly serviceIds: number; readonly backendIds: number };
  readonly mapReplacements: number;
  readonly lastReplacement?: { readonly changes: readonly { readonly name: string }[] };
  readonly lastPass?: {
    readonly mode: string;
    readonly absent: number;
    readonly changed: number;
    readonly deleted: number;
  };
}

export interface HousekeepingFigures {
  readonly detection: DataplaneStats['detection'];
  /** kube-lb entries the write-back put back before any JavaScript ran (the program, or the addon). */
  readonly writtenBack: number;
  /** kube-lb entries written back from change events. */
  readonly eventRestored: number;
  /** Entries repaired by passes that read the maps (anything the events did not deal with). */
  readonly passRepaired: number;
  /** Pins the speaker found naming another map (Cilium re-created one): those are re-programmed by a pass. */
  readonly mapReplacements: number;
  /** The maps of the last replacement, when there was one. */
  readonly replacedMaps: readonly string[];
  /** Service and backend IDs the speaker moved off (none expected: Cilium's housekeeping only deletes). */
  readonly idMoves: number;
  /** The speaker's longest delete-to-rewrite since it started (ms). */
  readonly gapMaxMs: number;
  /** Service entries the addon wrote back more than 1 ms after Cilium's delete returned, during the action. */
  readonly addonWriteBacksOver1ms: number;
  /** The longest of the addon's write-back gaps since the speaker started (ms). */
  readonly addonWriteBackMaxMs: number;
  readonly okRequests: number;
  readonly failedRequests: number;
  /**
   * Every run of failed requests: from the first failure to the next answer, ms after the action started, and the
   * client's error (a timeout, a reset, a refusal) for telling a dropped packet from an answer from elsewhere.
   */
  readonly outages: readonly { from: number; to: number | undefined; error: string | undefined }[];
}

async function stats(topo: Topology, node: string): Promise<DataplaneStats> {
  return ((await topo.speakerState(node)) as unknown as { dataplane: DataplaneStats }).dataplane;
}

/** Where the client loop sends its requests: kube-lb's VIP unless said otherwise. */
export interface LoopTarget {
  readonly host: string;
  readonly port: number;
}

/** Runs `action` under a client loop (every `intervalMs`, 1 s timeout) and records what the loop and the speaker saw. */
async function underLoop(
  lab: RecreateLab,
  action: () => Promise<void>,
  settleMs: number,
  intervalMs: number,
  target: LoopTarget = { host: lab.vip, port: 80 },
): Promise<HousekeepingFigures> {
  const { topo } = lab;
  const node = topo.lbNodes[0]!.name;
  await topo.startLoop('tcp', target.host, target.port, intervalMs, 1000);
  await sleep(1000);
  const before = await stats(topo, node);
  const start = await topo.loop();
  const startedAt = Date.now();
  await action();
  const outages: { from: number; to: number | undefined; error: string | undefined }[] = [];
  let seen = start;
  for (const until = Date.now() + settleMs; ; ) {
    await sleep(20);
    const now = await topo.loop();
    const open = outages.at(-1);
    if (now.fail > seen.fail && (!open || open.to !== undefined))
      outages.push({ from: (now.lastFailAt ?? Date.now()) - startedAt, to: undefined, error: now.lastError });
    if (now.ok > seen.ok && open && open.to === undefined && (now.lastOkAt ?? 0) > (now.lastFailAt ?? 0))
      open.to = (now.lastOkAt ?? Date.now()) - startedAt;
    seen = now;
    const steady = now.lastOkAt !== undefined && now.lastOkAt - (now.lastFailAt ?? 0) > 2000;
    if ((Date.now() > until && steady) || Date.now() > until + 60_000) break;
  }
  const tally = await topo.stopLoop();
  const after = await stats(topo, node);
  const eventRestored = after.eventRestoredEntries - before.eventRestoredEntries;
  const writtenBack = after.writtenBackEntries - before.writtenBackEntries;
  return {
    detection: after.detection,
    writtenBack,
    eventRestored,
    passRepaired: after.repairedEntries - before.repairedEntries - eventRestored - writtenBack,
    gapMaxMs: after.eventRestoreGapMaxMs,
    addonWriteBacksOver1ms: (after.addonWriteBacks?.over1ms ?? 0) - (before.addonWriteBacks?.over1ms ?? 0),
    addonWriteBackMaxMs: after.addonWriteBacks?.maxMs ?? 0,
    mapReplacements: after.mapReplacements - before.mapReplacements,
    replacedMaps:
      after.mapReplacements > before.mapReplacements ? (after.lastReplacement?.changes.map((c) => c.name) ?? []) : [],
    idMoves:
      after.idMoves.serviceIds + after.idMoves.backendIds - before.idMoves.serviceIds - before.idMoves.backendIds,
    okRequests: tally.ok - start.ok,
    failedRequests: tally.fail - start.fail,
    outages,
  };
}

/** The control: the same loop and window with nothing done, to tell the loop's own failures from the action's. */
export function quietRun(lab: RecreateLab, intervalMs = 10): Promise<HousekeepingFigures> {
  return underLoop(lab, async () => undefined, 3000, intervalMs);
}

/** `cilium-dbg shell -- lb/prune` (1.18+) with the loop running. */
export function pruneRun(lab: RecreateLab, intervalMs = 10): Promise<HousekeepingFigures> {
  const agent = lab.topo.lbNodes[0]!.cilium!;
  return underLoop(lab, async () => void (await agent.dbg(['shell', '--', 'lb/prune'])), 3000, intervalMs);
}

/**
 * The control for a restart: a Service Cilium serves itself (its externalIP, backed by the first consumer node),
 * which the client loop can be pointed at instead of kube-lb's VIP. Created once; resolves once it answers.
 */
export async function ciliumOwnTarget(lab: RecreateLab): Promise<LoopTarget> {
  await ciliumOwnService(lab.topo);
  await lab.topo.requestUntilOk('tcp', CILIUM_EXTERNAL_IP, 80, 60_000);
  return { host: CILIUM_EXTERNAL_IP, port: 80 };
}

/**
 * The agent stopped and started again with the same configuration, the speaker left running, the loop on
 * kube-lb's VIP (or on `target`: Cilium's own Service, the control).
 */
export function restartRun(lab: RecreateLab, intervalMs = 10, target?: LoopTarget): Promise<HousekeepingFigures> {
  const agent = lab.topo.lbNodes[0]!.cilium!;
  return underLoop(
    lab,
    async () => {
      await agent.stop();
      agent.start();
      await agent.waitReady();
      // The new agent prunes once its tables are initialised; ask for one more so the run always covers one.
      await agent.dbg(['shell', '--', 'lb/prune']).catch(() => undefined);
    },
    5000,
    intervalMs,
    target,
  );
}
