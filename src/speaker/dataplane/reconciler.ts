// Keeps Cilium's lb4 maps equal to the desired frontends: one pass reads every map, plans with the pure
// planner and applies the plan in its make-before-break order. Passes run when the desired state changes and
// every `periodMs` (default 500 ms, so anything Cilium prunes is back within a second). Changes found while
// the desired state is unchanged since the last successful pass are drift, and counted as repairs.
import { Counter, Gauge, type Registry } from 'prom-client';
import { normalizeFrontends, type DesiredFrontend, type Frontend, type RejectedFrontend } from '../../core/dataplane/frontend.ts';
import {
  MapPlanner,
  type FrontendState,
  type FrontendStatus,
  type MapName,
  type Plan,
  type PlannerOptions,
} from '../../core/dataplane/planner.ts';
import type { Lb4Profile } from '../../core/lb4/profile.ts';
import { profileUnder, servability, type CiliumDatapathConfig, type Servability } from '../../core/cilium/config.ts';
import { DEFAULT_MAGLEV_HASH_SEED, maglevMurmurSeed } from '../../core/maglev/table.ts';
import { DataplaneMapError } from './errors.ts';
import type { Logger } from '../../shared/logger.ts';
import { readSnapshot, sameSnapshot, type ByteMap, type Lb4Maps } from './maps.ts';
import type { MapsSnapshot } from '../../core/dataplane/ownership.ts';

export const DEFAULT_RECONCILE_PERIOD_MS = 500;

export interface ReconcilerOptions {
  readonly maps: Lb4Maps;
  /** The line's profile; the Cilium configuration may adjust it (see `profile` of the reconciler). */
  readonly profile: Lb4Profile;
  /**
   * The node's Cilium configuration: algorithm, maglev table size and seed, source-range and affinity support,
   * the protocol rule, and whether kube-lb can serve the node at all. The speaker always passes it. Without it
   * (tests, the standalone tool) the reconciler assumes a serveable node with Cilium's default seed, selects
   * with maglev exactly when the maglev map is open, and takes the table size from that map.
   */
  readonly cilium?: CiliumDatapathConfig;
  readonly logger: Logger;
  readonly periodMs?: number;
  readonly registry?: Registry;
}

export interface PassResult {
  /** Entries written because they were missing / held other bytes, and our entries deleted. */
  readonly absent: number;
  readonly changed: number;
  readonly deleted: number;
  /** True when the desired state had not changed since the last successful pass: the work was drift repair. */
  readonly repair: boolean;
  readonly durationMs: number;
  readonly error: Error | undefined;
}

export interface DataplaneStats {
  readonly passes: number;
  readonly failedPasses: number;
  /** Entries rewritten or deleted to undo drift. */
  readonly repairedEntries: number;
  readonly repairPasses: number;
  readonly lastPass: PassResult | undefined;
  readonly frontends: Readonly<Record<FrontendState, number>>;
}

type Listener = (result: PassResult) => void;

interface Metrics {
  passes: Counter<'result'>;
  repairs: Counter;
  frontends: Gauge<'state'>;
}

/** The planner's view of the node, from the Cilium configuration when there is one (see ReconcilerOptions). */
function plannerOptions(maps: Lb4Maps, profile: Lb4Profile, cilium: CiliumDatapathConfig | undefined): PlannerOptions {
  const maglevMap = maps.maglev;
  if (cilium) {
    const maglev = cilium.algorithm === 'maglev';
    if (maglev && !maglevMap) {
      throw new DataplaneMapError('DATAPLANE_MAP_MISSING', 'cilium_lb4_maglev', `Cilium's configuration (${cilium.source}) selects backends with maglev, but its maglev map is not there`);
    }
    if (maglev && maglevMap?.tableSize !== undefined && maglevMap.tableSize !== cilium.maglev.tableSize) {
      throw new DataplaneMapError('DATAPLANE_MAGLEV_TABLE_SIZE', maglevMap.name, `Cilium's configured maglev table size ${cilium.maglev.tableSize} differs from its maps' (${maglevMap.tableSize})`);
    }
    return {
      profile,
      algorithm: cilium.algorithm,
      maglev: maglev ? { tableSize: cilium.maglev.tableSize, seed: maglevMurmurSeed(cilium.maglev.hashSeed) } : undefined,
      sourceRangeMap: cilium.sourceRangeCheck && maps.sourceRange !== undefined,
      affinityMatchMap: cilium.sessionAffinity && maps.affinityMatch !== undefined,
    };
  }
  if (maglevMap && maglevMap.tableSize === undefined) {
    throw new DataplaneMapError('DATAPLANE_MAGLEV_TABLE_SIZE', maglevMap.name, 'maglev table size unknown: pass Cilium\'s configuration (bpf-lb-maglev-table-size)');
  }
  return {
    profile,
    algorithm: maglevMap ? 'maglev' : 'random',
    maglev: maglevMap?.tableSize !== undefined ? { tableSize: maglevMap.tableSize, seed: maglevMurmurSeed(DEFAULT_MAGLEV_HASH_SEED) } : undefined,
    sourceRangeMap: maps.sourceRange !== undefined,
    affinityMatchMap: maps.affinityMatch !== undefined,
  };
}

function createMetrics(registry: Registry): Metrics {
  return {
    passes: new Counter({
      name: 'kube_lb_dataplane_passes_total',
      help: 'Map reconcile passes, by result (ok, error).',
      labelNames: ['result'],
      registers: [registry],
    }),
    repairs: new Counter({
      name: 'kube_lb_dataplane_repaired_entries_total',
      help: 'Map entries rewritten or deleted because something else changed them.',
      registers: [registry],
    }),
    frontends: new Gauge({
      name: 'kube_lb_dataplane_frontends',
      help: 'Desired frontends by state (programmed, conflict, rejected, unsupported, exhausted, refused).',
      labelNames: ['state'],
      registers: [registry],
    }),
  };
}

const EMPTY_COUNTS: Record<FrontendState, number> = {
  programmed: 0,
  conflict: 0,
  rejected: 0,
  unsupported: 0,
  exhausted: 0,
  refused: 0,
};

export class DataplaneReconciler {
  /** The profile kube-lb writes with: the line's, as the node's Cilium configuration adjusts it. */
  readonly profile: Lb4Profile;
  /** Whether kube-lb can serve this node; when not, it programs nothing and every frontend is 'refused'. */
  readonly servability: Servability;
  readonly periodMs: number;
  readonly #maps: Lb4Maps;
  readonly #log: Logger;
  readonly #planner: MapPlanner;
  readonly #metrics: Metrics | undefined;
  readonly #listeners = new Set<Listener>();
  #frontends: readonly Frontend[] = [];
  #rejected: readonly RejectedFrontend[] = [];
  #generation = 0;
  #appliedGeneration = -1;
  #statuses: readonly FrontendStatus[] = [];
  #lastPlan: Plan | undefined;
  #timer: NodeJS.Timeout | undefined;
  #immediate: NodeJS.Immediate | undefined;
  #running = false;
  #stats = { passes: 0, failedPasses: 0, repairedEntries: 0, repairPasses: 0 };
  #lastPass: PassResult | undefined;
  /** The maps as read after the last successful pass. */
  #baseline: MapsSnapshot | undefined;

  constructor(options: ReconcilerOptions) {
    const { cilium } = options;
    this.profile = cilium ? profileUnder(options.profile, cilium) : options.profile;
    this.servability = cilium ? servability(cilium) : { ok: true, message: 'no Cilium configuration given: assumed serveable' };
    this.periodMs = options.periodMs ?? DEFAULT_RECONCILE_PERIOD_MS;
    this.#maps = options.maps;
    this.#log = options.logger;
    this.#planner = new MapPlanner(plannerOptions(options.maps, this.profile, cilium));
    this.#metrics = options.registry ? createMetrics(options.registry) : undefined;
  }

  /** Replaces the desired frontends; a running reconciler applies them right away. */
  setDesired(desired: readonly DesiredFrontend[]): void {
    const { frontends, rejected } = normalizeFrontends(desired, this.profile);
    this.#frontends = frontends;
    this.#rejected = rejected;
    this.#generation++;
    for (const r of rejected) this.#log.warn({ frontend: r.frontend, reason: r.reason }, 'desired frontend rejected');
    if (this.#running) this.#schedule(0);
  }

  /** Runs passes now and every period until stop(). */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#schedule(0);
  }

  stop(): void {
    this.#running = false;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#immediate) clearImmediate(this.#immediate);
    this.#timer = undefined;
    this.#immediate = undefined;
  }

  /** Called after every pass (tests and benchmarks wait on it). Returns an unsubscribe function. */
  onPass(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * One read-plan-apply pass. Synchronous: every map call is a syscall that does not block. When nothing
   * desired changed and every map reads back byte for byte as after the last pass (the common periodic case),
   * planning is skipped: a pass then costs the map reads and a memory compare.
   */
  reconcileOnce(): PassResult {
    const started = performance.now();
    const generation = this.#generation;
    const repair = generation === this.#appliedGeneration;
    let error: Error | undefined;
    let plan: Plan | undefined;
    let applied = { absent: 0, changed: 0, deleted: 0 };
    try {
      const snapshot = readSnapshot(this.#maps);
      if (!(repair && this.#baseline && sameSnapshot(this.#baseline, snapshot))) {
        this.#baseline = undefined;
        plan = this.#plan(snapshot);
        this.#lastPlan = plan;
        this.#statuses = plan.statuses;
        applied = this.#apply(plan);
        this.#appliedGeneration = generation;
        // After writes the next pass re-plans once against what it reads, then compares against that.
        this.#baseline = plan.ops.length === 0 ? snapshot : undefined;
      }
    } catch (err) {
      error = err instanceof Error ? err : new Error(String(err));
    }
    const result: PassResult = { ...applied, repair, durationMs: performance.now() - started, error };
    this.#record(result, plan);
    return result;
  }

  stats(): DataplaneStats {
    const frontends = { ...EMPTY_COUNTS };
    for (const s of this.#statuses) frontends[s.state]++;
    return { ...this.#stats, lastPass: this.#lastPass, frontends };
  }

  /** One status per desired frontend, from the last pass. */
  statuses(): readonly FrontendStatus[] {
    return this.#statuses;
  }

  /** The last plan (ownership, ops), for the CLI and tests. */
  lastPlan(): Plan | undefined {
    return this.#lastPlan;
  }

  /**
   * On a node kube-lb cannot serve, the plan wants nothing of kube-lb in the maps (entries left from before the
   * configuration changed are removed: they would carry traffic the wrong way), and every frontend says why.
   */
  #plan(snapshot: MapsSnapshot): Plan {
    const s = this.servability;
    if (s.ok) return this.#planner.plan(this.#frontends, this.#rejected, snapshot);
    const plan = this.#planner.plan([], this.#rejected, snapshot);
    const refused = this.#frontends.map((f): FrontendStatus => ({
      name: f.name,
      origin: f.origin,
      state: 'refused',
      reason: s.message,
      code: s.reason,
      notes: [],
    }));
    return { ...plan, statuses: [...plan.statuses, ...refused] };
  }

  #apply(plan: Plan): { absent: number; changed: number; deleted: number } {
    const done = { absent: 0, changed: 0, deleted: 0 };
    for (const op of plan.ops) {
      switch (op.kind) {
        case 'upsert':
          this.#map(op.map).upsert(op.entries);
          done.absent += op.absent;
          done.changed += op.changed;
          break;
        case 'delete':
          this.#map(op.map).remove(op.keys);
          done.deleted += op.keys.count;
          break;
        case 'maglev-set':
          for (const t of op.tables) this.#maps.maglev?.set(t.serviceId, t.bytes, t.digest);
          done.absent += op.absent;
          done.changed += op.changed;
          break;
        case 'maglev-delete':
          this.#maps.maglev?.remove(op.serviceIds);
          done.deleted += op.serviceIds.length;
          break;
      }
    }
    return done;
  }

  #map(name: MapName): ByteMap {
    const m = this.#maps[name];
    if (!m) throw new Error(`planner produced an operation for absent map ${name}`);
    return m;
  }

  #record(result: PassResult, plan: Plan | undefined): void {
    this.#stats.passes++;
    this.#lastPass = result;
    const touched = result.absent + result.changed + result.deleted;
    if (result.error) {
      this.#stats.failedPasses++;
      this.#log.error({ err: result.error, ...result, error: undefined }, 'dataplane pass failed; retrying next period');
    } else if (result.repair && touched > 0) {
      this.#stats.repairedEntries += touched;
      this.#stats.repairPasses++;
      this.#metrics?.repairs.inc(touched);
      this.#log.warn(
        { absent: result.absent, changed: result.changed, deleted: result.deleted, steps: plan?.ops.map((o) => o.step) },
        'repaired map entries changed by someone else',
      );
    } else if (touched > 0) {
      this.#log.info({ absent: result.absent, changed: result.changed, deleted: result.deleted }, 'maps programmed');
    }
    if (this.#metrics) {
      this.#metrics.passes.inc({ result: result.error ? 'error' : 'ok' });
      const counts = this.stats().frontends;
      for (const [state, n] of Object.entries(counts)) this.#metrics.frontends.set({ state }, n);
    }
    for (const l of this.#listeners) l(result);
  }

  #schedule(delayMs: number): void {
    if (!this.#running) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    const run = (): void => {
      this.#immediate = undefined;
      this.#timer = undefined;
      if (!this.#running) return;
      this.reconcileOnce();
      this.#schedule(this.periodMs);
    };
    if (delayMs === 0) {
      if (!this.#immediate) this.#immediate = setImmediate(run);
    } else {
      this.#timer = setTimeout(run, delayMs);
    }
  }
}
