// Keeps Cilium's lb4 maps equal to the desired frontends: one pass reads every map, plans with the pure
// planner and applies the plan in its make-before-break order. Passes run when the desired state changes and
// every `periodMs` (default 500 ms, so anything Cilium prunes is back within a second). Changes found while
// the desired state is unchanged since the last successful pass are drift, and counted as repairs.
// Every pass starts by checking that each pin still names the map held (no dump: one open and info call per
// pin). A map Cilium re-created or removed is re-opened and fully programmed; until that is done, every frontend
// is 'unavailable', so the node's claims do not say Programmed.
import type { Counter, Gauge, Histogram, Registry } from 'prom-client';
import {
  normalizeFrontends,
  type DesiredFrontend,
  type Frontend,
  type RejectedFrontend,
} from '../../core/dataplane/frontend.ts';
import {
  MapPlanner,
  rejectedStatuses,
  UPSERT_LEVELS,
  type FrontendState,
  type FrontendStatus,
  type MapName,
  type MapOp,
  type Plan,
  type PlannerOptions,
} from '../../core/dataplane/planner.ts';
import type { Lb4Profile } from '../../core/lb4/profile.ts';
import { profileUnder, servability, type CiliumDatapathConfig, type Servability } from '../../core/cilium/config.ts';
import { DEFAULT_MAGLEV_HASH_SEED, maglevMurmurSeed } from '../../core/maglev/table.ts';
import { DataplaneMapError } from './errors.ts';
import type { Logger } from '../../shared/logger.ts';
import type { ConsumerPriority } from '../../native/map-watch.ts';
import {
  describePinChange,
  IMMEDIATE_WRITER,
  readSnapshot,
  sameSnapshot,
  type ByteMap,
  type Lb4Maps,
  type PinChange,
  type PinEvents,
  type PinIdentity,
  type PinnedLb4Maps,
  type MapChange,
  type MapChangeFeed,
} from './maps.ts';
import type { MapsSnapshot } from '../../core/dataplane/ownership.ts';
import type { AddonWriteBacks } from '../../native/map-watch.ts';
import {
  findDrift,
  idsOfKey,
  ownsKey,
  restoreOps,
  type ForeignPrint,
  type LostEntry,
} from '../../core/dataplane/drift.ts';
import type { DesiredImage } from '../../core/dataplane/image.ts';
import type { PackedEntries } from '../../core/bpf/packed.ts';
import { assertNever, invariant } from '../../shared/errors.ts';
import { metricsOn } from '../../shared/metrics.ts';

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
  /**
   * Whether each pin behind `maps` still names the map held; checked at the start of every pass. Without it
   * (maps that are not pinned) nothing is checked.
   */
  readonly pins?: PinIdentity;
  /**
   * Opens every map again, shape-checked as at start, after a pin changed (the speaker: openLb4Maps with the
   * line it decided at start). Without it a changed pin leaves the node 'unavailable'.
   */
  readonly reopen?: () => PinnedLb4Maps;
  /** Wall clock in ms since the epoch, for the times in stats(); default Date.now. */
  readonly now?: () => number;
  /**
   * How often a running reconciler checks the pins between passes (default 100 ms; 0: only at each pass). A
   * check costs one open and info call per pin, so a replaced map is found well within a period.
   */
  readonly pinCheckMs?: number;
  /**
   * Events of pins created, removed or renamed in the maps' directory (the speaker: inotify). With them a replaced
   * map is found as Cilium pins it, not at the next periodic check, which stays as the safety net.
   */
  readonly pinEvents?: PinEvents;
  /**
   * Events of changes others make to the maps (the speaker: NativeMapChangeFeed). With it, a deleted entry of
   * kube-lb's is written back as soon as the event arrives, and a pass skips re-reading maps that nobody else
   * changed, except once every `verifyPeriodMs`. Without it (or when it fails) every pass re-reads every map.
   */
  readonly changes?: MapChangeFeed;
  /** With change events: how often a pass re-reads every map anyway, as a safety net (default 10 s). */
  readonly verifyPeriodMs?: number;
}

export const DEFAULT_PIN_CHECK_MS = 100;
export const DEFAULT_VERIFY_PERIOD_MS = 10_000;
/** Others' changes this recent mean more are on their way: a read waits this long (see #putOffRead). */
const SETTLE_MS = 250;
const MAX_PUT_OFF_MS = 5_000;

/** Code (and claim reason) of the 'unavailable' state. */
export const MAPS_REPLACED = 'CiliumMapsReplaced';

/** Entries a pass wrote that were missing or held other bytes, and entries it deleted. */
type Applied = { absent: number; changed: number; deleted: number };

export interface PassResult {
  /** Entries written because they were missing / held other bytes, and our entries deleted. */
  readonly absent: number;
  readonly changed: number;
  readonly deleted: number;
  /** True when the desired state had not changed since the last successful pass: the work was drift repair. */
  readonly repair: boolean;
  /**
   * How the pass decided: 'idle' (change events say nobody else wrote; no map read), 'unchanged' (read, same
   * bytes), 'restored' (read; only entries of ours were missing, written back from the last image without
   * planning), 'planned' (the full planner ran), or 'failed'.
   */
  readonly mode: PassMode;
  readonly durationMs: number;
  readonly error: Error | undefined;
  /** Pins found naming another map than the one held, in this pass (re-opened, if `error` is undefined). */
  readonly replaced: readonly PinChange[];
  /**
   * True when the maps were replaced and are not re-programmed yet: statuses() then say 'unavailable' for every
   * frontend even though the pass failed (a failed pass otherwise leaves the last successful pass's statuses).
   */
  readonly unavailable: boolean;
}

export type PassMode = 'idle' | 'unchanged' | 'restored' | 'planned' | 'failed';

export interface MapReplacement {
  /** When the changed pins were found (ms since the epoch). */
  readonly detectedAt: number;
  readonly changes: readonly PinChange[];
  /** When a pass had re-opened and fully programmed the maps pinned now; undefined until then. */
  readonly reprogrammedAt: number | undefined;
  /** Failed passes in between (re-open or writes). */
  readonly failedPasses: number;
}

export interface DataplaneStats {
  readonly passes: number;
  readonly failedPasses: number;
  /** Entries rewritten or deleted to undo drift. */
  readonly repairedEntries: number;
  readonly repairPasses: number;
  readonly lastPass: PassResult | undefined;
  readonly frontends: Readonly<Record<FrontendState, number>>;
  /** Pins found naming another map (or none) than the one held, since start. */
  readonly mapReplacements: number;
  readonly lastReplacement: MapReplacement | undefined;
  /** The last few replacements, oldest first (one agent restart can re-create maps at different moments). */
  readonly recentReplacements: readonly MapReplacement[];
  /** 'events' when change events are followed, 'polling' when every pass re-reads the maps (and why). */
  readonly detection: { readonly mode: 'events' | 'polling'; readonly reason: string };
  /** How replaced maps are found: 'events' from pin events, 'polling' by the periodic pin check alone (and why). */
  readonly pinDetection: { readonly mode: 'events' | 'polling'; readonly reason: string };
  /** Entries written back on a change event, without waiting for a pass. */
  readonly eventRestoredEntries: number;
  /**
   * Deletes the write-back undid before any JavaScript ran: the program, before the deleting call returned
   * (backends, revNAT), or the addon as it consumed the event (services, which programs may not write).
   */
  readonly writtenBackEntries: number;
  /** The longest time from the kernel's delete to the write-back on its event, since start (ms; 0 if none). */
  readonly eventRestoreGapMaxMs: number;
  /**
   * The addon's own write-backs (the services map, which programs may not write) since start: how many, how many
   * came more than 1 ms after the deleting call returned, the longest gap. undefined without change events.
   */
  readonly addonWriteBacks: AddonWriteBacks | undefined;
  /** IDs kube-lb moved off since start because someone else took them (Plan.moves, summed). */
  readonly idMoves: { readonly serviceIds: number; readonly backendIds: number };
  /** IDs change events showed another writer using, held off until nothing is left under them. */
  readonly contestedIds: { readonly serviceIds: readonly number[]; readonly backendIds: readonly number[] };
}

const RECENT_REPLACEMENTS = 8;

type Listener = (result: PassResult) => void;

interface Metrics {
  passes: Counter<'result'>;
  repairs: Counter;
  frontends: Gauge<'state'>;
  replacements: Counter<'map' | 'change'>;
  current: Gauge;
  detection: Gauge<'mode'>;
  eventRestoreGap: Histogram;
  foreignChanges: Counter<'map' | 'op'>;
  restored: Counter<'trigger'>;
  idMoves: Counter<'kind'>;
}

/** The planner's view of the node, from the Cilium configuration when there is one (see ReconcilerOptions). */
function plannerOptions(maps: Lb4Maps, profile: Lb4Profile, cilium: CiliumDatapathConfig | undefined): PlannerOptions {
  const maglevMap = maps.maglev;
  const capacity = {
    services: maps.services.maxEntries,
    backends: maps.backends.maxEntries,
    revNat: maps.revNat.maxEntries,
  };
  if (cilium) {
    const maglev = cilium.algorithm === 'maglev';
    if (maglev && !maglevMap) {
      throw new DataplaneMapError(
        'DATAPLANE_MAP_MISSING',
        'cilium_lb4_maglev',
        `Cilium's configuration (${cilium.source}) selects backends with maglev, but its maglev map is not there`,
      );
    }
    if (maglev && maglevMap?.tableSize !== undefined && maglevMap.tableSize !== cilium.maglev.tableSize) {
      throw new DataplaneMapError(
        'DATAPLANE_MAGLEV_TABLE_SIZE',
        maglevMap.name,
        `Cilium's configured maglev table size ${cilium.maglev.tableSize} differs from its maps' (${maglevMap.tableSize})`,
      );
    }
    return {
      profile,
      algorithm: cilium.algorithm,
      maglev: maglev
        ? { tableSize: cilium.maglev.tableSize, seed: maglevMurmurSeed(cilium.maglev.hashSeed) }
        : undefined,
      sourceRangeMap: cilium.sourceRangeCheck && maps.sourceRange !== undefined,
      affinityMatchMap: cilium.sessionAffinity && maps.affinityMatch !== undefined,
      capacity,
    };
  }
  if (maglevMap && maglevMap.tableSize === undefined) {
    throw new DataplaneMapError(
      'DATAPLANE_MAGLEV_TABLE_SIZE',
      maglevMap.name,
      "maglev table size unknown: pass Cilium's configuration (bpf-lb-maglev-table-size)",
    );
  }
  return {
    profile,
    algorithm: maglevMap ? 'maglev' : 'random',
    maglev:
      maglevMap?.tableSize !== undefined
        ? { tableSize: maglevMap.tableSize, seed: maglevMurmurSeed(DEFAULT_MAGLEV_HASH_SEED) }
        : undefined,
    sourceRangeMap: maps.sourceRange !== undefined,
    affinityMatchMap: maps.affinityMatch !== undefined,
    capacity,
  };
}

function createMetrics(registry: Registry): Metrics {
  const m = metricsOn(registry);
  return {
    passes: m.counter('kube_lb_dataplane_passes_total', 'Map reconcile passes, by result (ok, error).', ['result']),
    repairs: m.counter(
      'kube_lb_dataplane_repaired_entries_total',
      'Map entries rewritten or deleted because something else changed them.',
    ),
    frontends: m.gauge(
      'kube_lb_dataplane_frontends',
      'Desired frontends by state (programmed, conflict, rejected, unsupported, exhausted, refused, unavailable).',
      ['state'],
    ),
    replacements: m.counter(
      'kube_lb_dataplane_map_replacements_total',
      'Pinned maps found re-created (or re-pinned), vanished or appeared under kube-lb, by map and change; each is re-opened and fully re-programmed.',
      ['map', 'change'],
    ),
    current: m.gauge(
      'kube_lb_dataplane_maps_current',
      '1 when the maps kube-lb writes are the pinned ones, 0 from finding a map replaced until the maps pinned now are re-opened and programmed.',
    ),
    detection: m.gauge(
      'kube_lb_dataplane_change_detection',
      'How changes made by others are found: 1 for the mode in use (events: a BPF program reports them as they happen; polling: every pass re-reads every map).',
      ['mode'],
    ),
    foreignChanges: m.counter(
      'kube_lb_dataplane_foreign_changes_total',
      'Changes other processes made to the maps kube-lb writes, as change events reported them, by map and op (update, delete, batch).',
      ['map', 'op'],
    ),
    eventRestoreGap: m.histogram(
      'kube_lb_dataplane_event_restore_gap_seconds',
      'For each write-back on change events: time from the kernel deleting the oldest entry of the batch to kube-lb writing it back (the longest a lookup could miss it).',
      [],
      [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1],
    ),
    idMoves: m.counter(
      'kube_lb_dataplane_id_moves_total',
      "Service and backend IDs kube-lb moved off because another writer (Cilium's allocator reaching them, an operator) used them; each move rewrites that service's or backend's entries under a new ID.",
      ['kind'],
    ),
    restored: m.counter(
      'kube_lb_dataplane_restored_entries_total',
      'Entries of kube-lb found deleted and written back from the last plan without planning again, by trigger (kernel: by the write-back program before the delete returned; addon: by the addon as it consumed the event; event; pass).',
      ['trigger'],
    ),
  };
}

function changeKind(c: PinChange): 'recreated' | 'vanished' | 'appeared' {
  return c.pinned === undefined ? 'vanished' : c.held === undefined ? 'appeared' : 'recreated';
}

/** Whether two planner options plan alike (the profile is the reconciler's, never changed). */
function samePlanning(a: PlannerOptions, b: PlannerOptions): boolean {
  return (
    a.algorithm === b.algorithm &&
    a.maglev?.tableSize === b.maglev?.tableSize &&
    a.maglev?.seed === b.maglev?.seed &&
    a.sourceRangeMap === b.sourceRangeMap &&
    a.affinityMatchMap === b.affinityMatchMap &&
    a.capacity?.services === b.capacity?.services &&
    a.capacity?.backends === b.capacity?.backends &&
    a.capacity?.revNat === b.capacity?.revNat
  );
}

/** How often a repeated failure or replacement is logged again (in between it is counted). */
const LOG_EVERY_MS = 60_000;

const EMPTY_COUNTS: Record<FrontendState, number> = {
  programmed: 0,
  conflict: 0,
  rejected: 0,
  unsupported: 0,
  exhausted: 0,
  refused: 0,
  unavailable: 0,
};

/** What the detection reason says of the change-event consumer thread's priority. */
function priorityNote(priority: ConsumerPriority | undefined): string {
  if (priority === undefined) return '';
  const note = `; their consumer thread runs at nice ${priority.nice}`;
  if (priority.refused === undefined) return note;
  return `${note} (${priority.refused}: without CAP_SYS_NICE, a prune's deleted entries wait for a CPU behind other work before they go back)`;
}

export class DataplaneReconciler {
  /** The profile kube-lb writes with: the line's, as the node's Cilium configuration adjusts it. */
  readonly profile: Lb4Profile;
  /** Whether kube-lb can serve this node; when not, it programs nothing and every frontend is 'refused'. */
  readonly servability: Servability;
  readonly periodMs: number;
  readonly #cilium: CiliumDatapathConfig | undefined;
  /** The maps written, and their pins; undefined after a replacement until a re-open succeeds. */
  #maps: Lb4Maps | undefined;
  #pins: PinIdentity | undefined;
  readonly #reopen: (() => PinnedLb4Maps) | undefined;
  readonly #log: Logger;
  readonly #now: () => number;
  #planner: MapPlanner;
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
  readonly #pinCheckMs: number;
  #pinTimer: NodeJS.Timeout | undefined;
  readonly #pinEvents: PinEvents | undefined;
  #offPinEvents: (() => void) | undefined;
  #pinDetection: { mode: 'events' | 'polling'; reason: string };
  #running = false;
  #stats = { passes: 0, failedPasses: 0, repairedEntries: 0, repairPasses: 0, mapReplacements: 0 };
  readonly #idMoves = { serviceIds: 0, backendIds: 0 };
  #lastPass: PassResult | undefined;
  /** The maps as read after the last successful pass. */
  #baseline: MapsSnapshot | undefined;
  /** The last replacement; `reprogrammedAt` undefined while its maps are not programmed yet. */
  #replacement: MapReplacement | undefined;
  /** The ones before it. */
  #recent: MapReplacement[] = [];
  /** A run of failed passes with the same message: logged once, then every LOG_EVERY_MS with the count. */
  #failing: { message: string; count: number; loggedAt: number } | undefined;
  #replacementLoggedAt = Number.NEGATIVE_INFINITY;
  /** The records of kube-lb's ID tables found replaced, for the ones opened next. */
  #carried: { idTable?: PackedEntries; backendIdTable?: PackedEntries } = {};
  #replacementsUnlogged = 0;
  readonly #feed: MapChangeFeed | undefined;
  readonly #verifyPeriodMs: number;
  /** Whether the feed follows the maps held now; why not when it does not. */
  #detection: { mode: 'events' | 'polling'; reason: string };
  #offFeed: (() => void) | undefined;
  /** The feed's count of foreign changes when the maps were last read and found as wanted. */
  #foreignSeen = -1;
  /**
   * Foreign changes the events fully dealt with (deletes queued for write-back): a pass subtracts them from the
   * feed's count, so a prune handled entry by entry does not also make every pass re-read the maps.
   */
  #handled = 0;
  /** Change events asked for a read (one of ours overwritten, a batch, events lost): the next pass does one. */
  #mustRead = false;
  #lastEventAt = Number.NEGATIVE_INFINITY;
  /** Since when reads have been put off because others' changes keep arriving; undefined when not. */
  #deferredSince: number | undefined;
  /** The next pass comes after SETTLE_MS instead of the period (a read was put off). */
  #recheckSoon = false;
  #lastReadAt = Number.NEGATIVE_INFINITY;
  /**
   * kube-lb's entries as the last plan wrote them, and the foreign entries' fingerprint beside them: what lets a
   * pass (or an event) put lost entries back without planning. Undefined until a plan succeeded, and again
   * whenever the desired state or the maps held change.
   */
  #owned:
    | { image: DesiredImage; generation: number; print: ForeignPrint | undefined; foreignAtPlan: number }
    | undefined;
  #pendingLost: LostEntry[] = [];
  /** The kernel time of the oldest delete in #pendingLost (0n: unknown). */
  #pendingSince = 0n;
  #eventRestoreGapMaxMs = 0;
  #writtenBack = 0;
  #restoreImmediate: NodeJS.Immediate | undefined;
  #eventRestored = 0;
  #eventLogAt = Number.NEGATIVE_INFINITY;
  #eventUnlogged = 0;

  constructor(options: ReconcilerOptions) {
    const { cilium } = options;
    this.profile = cilium ? profileUnder(options.profile, cilium) : options.profile;
    this.servability = cilium
      ? servability(cilium)
      : { ok: true, message: 'no Cilium configuration given: assumed serveable' };
    this.periodMs = options.periodMs ?? DEFAULT_RECONCILE_PERIOD_MS;
    this.#pinCheckMs = options.pinCheckMs ?? DEFAULT_PIN_CHECK_MS;
    this.#pinEvents = options.pinEvents;
    this.#pinDetection = options.pinEvents
      ? { mode: 'events', reason: 'pins created, removed or renamed in the maps directory are reported as they happen' }
      : { mode: 'polling', reason: 'no pin events configured' };
    this.#cilium = cilium;
    this.#maps = options.maps;
    this.#pins = options.pins;
    this.#reopen = options.reopen;
    this.#log = options.logger;
    this.#now = options.now ?? Date.now;
    this.#planner = new MapPlanner(plannerOptions(options.maps, this.profile, cilium));
    this.#metrics = options.registry ? createMetrics(options.registry) : undefined;
    this.#metrics?.current.set(1);
    this.#feed = options.changes;
    this.#verifyPeriodMs = options.verifyPeriodMs ?? DEFAULT_VERIFY_PERIOD_MS;
    this.#detection = { mode: 'polling', reason: 'no change events configured' };
    if (this.#feed) this.#offFeed = this.#feed.onChanges((changes, lost) => this.#onChanges(changes, lost));
    this.#follow(options.maps);
  }

  /** Points the change feed at the maps held now; on failure every pass re-reads the maps, and says so once. */
  #follow(maps: Lb4Maps): void {
    this.#foreignSeen = -1;
    this.#handled = 0;
    if (!this.#feed) {
      this.#setDetection('polling', 'no change events configured');
      return;
    }
    try {
      this.#feed.follow(maps);
      const priority = this.#feed.consumerPriority?.();
      this.#setDetection(
        'events',
        `a BPF program on bpf(2) syscall exit reports changes made by other processes${priorityNote(priority)}`,
        priority?.refused !== undefined,
      );
    } catch (err) {
      this.#setDetection(
        'polling',
        `change events unavailable (${(err as Error).message.split('\n')[0]}); every pass re-reads every map`,
      );
    }
  }

  /** `degraded`: events, but not as well as they could be (said as a warning). */
  #setDetection(mode: 'events' | 'polling', reason: string, degraded = false): void {
    const before = this.#detection;
    this.#detection = { mode, reason };
    this.#metrics?.detection.set({ mode: 'events' }, mode === 'events' ? 1 : 0);
    this.#metrics?.detection.set({ mode: 'polling' }, mode === 'polling' ? 1 : 0);
    if (before?.mode === mode && before.reason === reason) return;
    if (mode === 'events')
      this.#log[degraded ? 'warn' : 'info'](
        { detection: mode },
        `map changes by others are detected by events: ${reason}`,
      );
    else if (this.#feed)
      this.#log.warn(
        { detection: mode },
        `map changes by others are detected by polling every ${this.periodMs} ms: ${reason}`,
      );
  }

  /**
   * Change events: a deleted entry of ours goes back at once (coalesced with the others of this wake-up). A
   * change to someone else's entry needs nothing now (the next verify read sees it). One of ours overwritten, a
   * batch (no key) or lost events bring a pass forward that must read the maps and decide.
   */
  #onChanges(changes: readonly MapChange[], lost: boolean): void {
    let read = lost;
    const writtenBack = { kernel: 0, addon: 0 };
    const owned = this.#owned;
    const image = owned !== undefined && owned.generation === this.#generation ? owned.image : undefined;
    if (changes.length > 0) this.#lastEventAt = performance.now();
    for (const c of changes) {
      this.#metrics?.foreignChanges.inc({ map: c.map, op: c.op });
      if (!image || c.op === 'batch') {
        read = true;
        continue;
      }
      const ours = ownsKey(image, c.map, c.key);
      if (c.op === 'delete') {
        if (ours && c.writtenBack) writtenBack[c.writtenBack]++;
        else if (ours) {
          if (this.#pendingLost.length === 0) this.#pendingSince = c.ns ?? 0n;
          this.#pendingLost.push({ map: c.map, key: c.key });
        }
        this.#handled++;
      } else if (ours) {
        // Another value under one of our keys: someone else uses that ID now (Cilium's allocator reached it, an
        // operator's edit). kube-lb moves off it in the pass this brings forward and never writes under it
        // again; a write-back of the same key still queued would undo their write: dropped.
        // The last image holds entries under that ID: nothing is written back from it (a new generation), the
        // pass plans again.
        this.#planner.contest(idsOfKey(c.map, c.key));
        this.#generation++;
        this.#pendingLost = this.#pendingLost.filter((l) => l.map !== c.map || Buffer.compare(l.key, c.key) !== 0);
        read = true;
      } else {
        this.#handled++;
      }
    }
    for (const by of ['kernel', 'addon'] as const) {
      const n = writtenBack[by];
      if (n === 0) continue;
      this.#writtenBack += n;
      this.#stats.repairedEntries += n;
      this.#metrics?.repairs.inc(n);
      this.#metrics?.restored.inc({ trigger: by }, n);
    }
    if (this.#pendingLost.length > 0 && !this.#restoreImmediate) {
      this.#restoreImmediate = setImmediate(() => this.#restorePending());
    }
    if (read) {
      this.#mustRead = true;
      this.#schedule(0);
    }
  }

  /** Writes the entries that change events reported deleted back from the last plan's image. */
  #restorePending(): void {
    this.#restoreImmediate = undefined;
    const lost = this.#pendingLost;
    const since = this.#pendingSince;
    this.#pendingLost = [];
    const owned = this.#owned;
    const maps = this.#maps;
    if (lost.length === 0) return;
    if (!owned || !maps || owned.generation !== this.#generation) {
      // Not written back here: the next pass must read the maps.
      this.#foreignSeen = -1;
      return;
    }
    const started = performance.now();
    let restored = 0;
    try {
      const r = restoreOps(owned.image, lost);
      this.#apply(maps, r);
      restored = r.restored;
    } catch (err) {
      this.#log.warn({ err }, 'writing back deleted entries failed; the next pass re-reads the maps');
      this.#foreignSeen = -1;
      this.#schedule(0);
      return;
    }
    if (restored === 0) return;
    // Delete-to-rewrite time of the oldest entry of this batch: how long a VIP could have missed a lookup.
    const gapMs = since > 0n ? Number(process.hrtime.bigint() - since) / 1e6 : undefined;
    if (gapMs !== undefined) {
      this.#metrics?.eventRestoreGap.observe(gapMs / 1000);
      this.#eventRestoreGapMaxMs = Math.max(this.#eventRestoreGapMaxMs, gapMs);
    }
    this.#eventRestored += restored;
    this.#stats.repairedEntries += restored;
    this.#metrics?.repairs.inc(restored);
    this.#metrics?.restored.inc({ trigger: 'event' }, restored);
    // A prune deletes entries one by one: one line a minute at most, with what was not logged.
    const at = performance.now();
    if (at - this.#eventLogAt < LOG_EVERY_MS) {
      this.#eventUnlogged += restored;
      return;
    }
    this.#log.warn(
      {
        restored,
        maps: [...new Set(lost.map((l) => l.map))],
        ms: Math.round((at - started) * 10) / 10,
        restoredNotLogged: this.#eventUnlogged || undefined,
      },
      'entries deleted by someone else written back on their change event',
    );
    this.#eventLogAt = at;
    this.#eventUnlogged = 0;
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
    if (this.#pins && this.#pinCheckMs > 0) this.#pinTimer = setInterval(() => this.#watchPins(), this.#pinCheckMs);
    this.#offPinEvents = this.#pinEvents?.(
      () => this.#onPinEvent(),
      (reason) => this.#pinEventsFailed(reason),
    );
  }

  /**
   * A pin came, went or moved: compared at once while maps are held; while they are not (a replacement not
   * re-opened yet, a pin missing), the next pass tries again now.
   */
  #onPinEvent(): void {
    if (!this.#running) return;
    if (this.#maps) this.#watchPins();
    else this.#schedule(0);
  }

  /** The pin events stopped (the directory went away, the watch failed): the periodic check alone goes on. */
  #pinEventsFailed(reason: string): void {
    if (this.#pinDetection.mode === 'polling') return;
    this.#pinDetection = { mode: 'polling', reason: `pin events stopped (${reason})` };
    this.#offPinEvents?.();
    this.#offPinEvents = undefined;
    this.#log.warn(
      { reason },
      `replaced maps are found by checking every pin every ${this.#pinCheckMs} ms: pin events stopped`,
    );
  }

  /** Between passes: a pin that names another map brings the next pass forward (the pass handles it). */
  #watchPins(): void {
    if (!this.#maps || !this.#pins) return;
    let changed: boolean;
    try {
      changed = this.#pins.changes().length > 0;
    } catch {
      changed = true; // the pass says what is wrong
    }
    if (changed) this.#schedule(0);
  }

  stop(): void {
    this.#running = false;
    if (this.#restoreImmediate) clearImmediate(this.#restoreImmediate);
    this.#restoreImmediate = undefined;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#immediate) clearImmediate(this.#immediate);
    if (this.#pinTimer) clearInterval(this.#pinTimer);
    this.#offPinEvents?.();
    this.#offPinEvents = undefined;
    this.#timer = undefined;
    this.#immediate = undefined;
    this.#pinTimer = undefined;
  }

  /** Stops and closes the maps held (the ones given, or the ones re-opened since). */
  close(): void {
    this.stop();
    this.#offFeed?.();
    this.#offFeed = undefined;
    this.#maps?.close();
    this.#maps = undefined;
    this.#pins = undefined;
  }

  /** The maps written now; undefined while replaced maps could not be re-opened. */
  maps(): Lb4Maps | undefined {
    return this.#maps;
  }

  /** Called after every pass (tests and benchmarks wait on it). Returns an unsubscribe function. */
  onPass(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * One check-read-plan-apply pass. Synchronous: it returns once every write is done (upserts are written on
   * the addon's writer thread while the planner goes on with the next chunk). When nothing
   * desired changed and every map reads back byte for byte as after the last pass (the common periodic case),
   * planning is skipped: a pass then costs the pin checks, the map reads and a memory compare.
   */
  reconcileOnce(): PassResult {
    const started = performance.now();
    const generation = this.#generation;
    const repair = generation === this.#appliedGeneration;
    let error: Error | undefined;
    let plan: Plan | undefined;
    let replaced: readonly PinChange[] = [];
    let applied: Applied = { absent: 0, changed: 0, deleted: 0 };
    let mode: PassMode = 'failed';
    let mirrorAfter = false;
    try {
      replaced = this.#checkPins();
      // A re-open hands over what it read (PinnedLb4Maps.read), for this pass to plan on.
      const { maps, read: reopened } = this.#maps ? { maps: this.#maps, read: undefined } : this.#reopenMaps(replaced);
      const foreign = this.#foreignCount();
      const due = started - this.#lastReadAt >= this.#verifyPeriodMs;
      if (
        repair &&
        this.#baseline &&
        foreign >= 0 &&
        !this.#mustRead &&
        ((foreign === this.#foreignSeen && !due) || this.#putOffRead(started))
      ) {
        mode = 'idle';
      } else {
        const snapshot = reopened ? { ...reopened, maglev: maps.maglev?.read() } : readSnapshot(maps);
        this.#lastReadAt = started;
        this.#mustRead = false;
        this.#deferredSince = undefined;
        const owned = this.#owned;
        if (repair && this.#baseline && sameSnapshot(this.#baseline, snapshot)) {
          mode = 'unchanged';
          this.#foreignSeen = foreign;
        } else if (
          repair &&
          owned &&
          owned.generation === generation &&
          this.#planner.image === owned.image &&
          // Right after a plan that wrote, the foreign entries' reference is taken from this read: only when
          // change events say nobody else wrote in between (else the planner looks at them first).
          (owned.print !== undefined || (foreign >= 0 && foreign === owned.foreignAtPlan))
        ) {
          const drift = findDrift(owned.image, snapshot, owned.print);
          if (drift.changed === 0 && drift.foreignChanged.length === 0) {
            this.#owned = { ...owned, print: drift.print };
            if (drift.lost.length === 0) {
              mode = 'unchanged';
              this.#baseline = snapshot;
              this.#foreignSeen = foreign;
            } else {
              mode = 'restored';
              const r = restoreOps(owned.image, drift.lost);
              applied = this.#apply(maps, r);
              this.#metrics?.restored.inc({ trigger: 'pass' }, r.restored);
              this.#baseline = undefined;
            }
          }
        }
        if (mode === 'failed') {
          mode = 'planned';
          this.#baseline = undefined;
          this.#owned = undefined;
          // Planned and applied together: each chunk is written while the next is planned.
          const applier = this.#applier(maps);
          try {
            plan = this.#plan(snapshot, applier.apply);
          } catch (err) {
            // What was handed over lands (or fails) before the pass reports; the planner's error is the one told.
            try {
              applier.finish();
            } catch {}
            throw err;
          }
          this.#lastPlan = plan;
          this.#statuses = plan.statuses;
          applied = applier.finish();
          this.#appliedGeneration = generation;
          // The image is what the maps hold for kube-lb once the plan is applied. The foreign fingerprint is
          // taken at the next read (so a plan is never followed by a second one just to learn the baseline).
          const image = this.#planner.image;
          if (image && this.servability.ok) {
            const print = plan.ops.length === 0 ? findDrift(image, snapshot, undefined).print : undefined;
            this.#owned = { image, generation, print, foreignAtPlan: foreign };
          }
          mirrorAfter = true;
          if (plan.ops.length === 0) {
            this.#baseline = snapshot;
            this.#foreignSeen = foreign;
          }
        }
      }
    } catch (err) {
      mode = 'failed';
      error = err instanceof Error ? err : new Error(String(err));
    }
    const unavailable = this.#afterReplacement(error);
    // The kernel write-back's mirrors follow a new plan once the maps carry it (and a replacement is counted
    // programmed): they only guard the entries against others' deletes.
    if (mirrorAfter) this.#mirror(this.#owned?.image);
    const result: PassResult = {
      ...applied,
      repair,
      mode,
      durationMs: performance.now() - started,
      error,
      replaced,
      unavailable,
    };
    this.#record(result, plan);
    return result;
  }

  /**
   * Whether this pass leaves out a read it would otherwise do (an unexplained count, the verify period): while
   * others' changes keep arriving (a prune, entry by entry) the count runs a little ahead of the events, and a
   * full read would stall the write-backs for its whole length. Reads are put off SETTLE_MS at a time, and never
   * for longer than MAX_PUT_OFF_MS.
   */
  #putOffRead(now: number): boolean {
    if (now - this.#lastEventAt >= SETTLE_MS) {
      this.#deferredSince = undefined;
      return false;
    }
    this.#deferredSince ??= now;
    if (now - this.#deferredSince >= MAX_PUT_OFF_MS) return false;
    this.#recheckSoon = true;
    return true;
  }

  /** The kernel write-back's mirrors follow the image (a failure only costs the write-back: events remain). */
  #mirror(image: DesiredImage | undefined): void {
    if (!this.#feed?.mirror || this.#detection.mode !== 'events') return;
    try {
      this.#feed.mirror(image);
    } catch (err) {
      this.#log.warn(
        { err },
        'the kernel write-back could not be updated; deleted entries are written back from their events',
      );
    }
  }

  /** The feed's foreign-change count, or -1 when changes are found by polling only. */
  #foreignCount(): number {
    if (!this.#feed || this.#detection.mode !== 'events') return -1;
    try {
      return this.#feed.foreignChanges() - this.#handled;
    } catch (err) {
      this.#setDetection('polling', `change events stopped (${(err as Error).message}); every pass re-reads every map`);
      return -1;
    }
  }

  stats(): DataplaneStats {
    const frontends = { ...EMPTY_COUNTS };
    for (const s of this.#statuses) frontends[s.state]++;
    const recent = this.#replacement ? [...this.#recent, this.#replacement] : [];
    return {
      ...this.#stats,
      lastPass: this.#lastPass,
      frontends,
      lastReplacement: this.#replacement,
      recentReplacements: recent,
      detection: this.#detection,
      pinDetection: this.#pinDetection,
      eventRestoredEntries: this.#eventRestored,
      writtenBackEntries: this.#writtenBack,
      eventRestoreGapMaxMs: this.#eventRestoreGapMaxMs,
      addonWriteBacks: this.#feed?.addonWriteBacks?.(),
      idMoves: { ...this.#idMoves },
      contestedIds: {
        serviceIds: [...this.#planner.contested.serviceIds],
        backendIds: [...this.#planner.contested.backendIds],
      },
    };
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
   * Whether every pin still names the map held. When one does not, the maps held are closed (the datapath no
   * longer reads them) and the pass goes on to open the pinned ones in their place. Returns the changes found.
   */
  #checkPins(): readonly PinChange[] {
    if (!this.#maps) return [];
    const changes = this.#pins?.changes() ?? [];
    if (changes.length === 0) return changes;
    this.#replaced(changes);
    // kube-lb's own ID tables lost (removed, a bpffs remounted): without their records kube-lb's entries still in
    // Cilium's maps would look foreign, and its backends would come back under new IDs. The held tables are still
    // readable; their records go into the new ones.
    for (const table of ['idTable', 'backendIdTable'] as const) {
      if (changes.some((c) => c.name === this.#maps![table].name)) this.#carried[table] = this.#maps[table].dump();
    }
    this.#maps.close();
    this.#maps = undefined;
    this.#pins = undefined;
    this.#owned = undefined;
    this.#pendingLost = [];
    return changes;
  }

  /**
   * Opens the maps pinned now, shape-checked as at start. A re-open that fails (a map missing, a shape kube-lb
   * cannot write) fails the pass, and the next pass tries again.
   */
  /** Opens the maps pinned now; `read`: what the open read, unless an ID table was written since. */
  #reopenMaps(changes: readonly PinChange[]): { maps: Lb4Maps; read: MapsSnapshot | undefined } {
    if (!this.#reopen)
      throw new DataplaneMapError(
        'DATAPLANE_MAP_MISSING',
        changes[0]?.path ?? 'lb4 maps',
        'the maps were replaced and this reconciler cannot re-open them',
      );
    const opened = this.#reopen();
    try {
      const options = plannerOptions(opened.maps, this.profile, this.#cilium);
      // The planner's memory (contested IDs, maglev tables) survives a re-open unless the node now plans differently.
      if (!samePlanning(options, this.#planner.options)) this.#planner = new MapPlanner(options);
    } catch (err) {
      opened.maps.close();
      throw err;
    }
    let carriedBack = false;
    for (const table of ['idTable', 'backendIdTable'] as const) {
      const carried = this.#carried[table];
      if (carried && carried.count > 0 && (opened.read?.[table] ?? opened.maps[table].dump()).count === 0) {
        opened.maps[table].upsert(carried);
        carriedBack = true;
      }
    }
    this.#carried = {};
    this.#maps = opened.maps;
    this.#pins = opened.pins;
    this.#baseline = undefined;
    this.#owned = undefined;
    this.#follow(opened.maps);
    this.#log.info(
      { maps: this.#replacement?.changes.map(describePinChange) },
      'maps re-opened; programming them in full',
    );
    return { maps: opened.maps, read: carriedBack ? undefined : opened.read };
  }

  #replaced(changes: readonly PinChange[]): void {
    const now = this.#now();
    this.#stats.mapReplacements += changes.length;
    const prior = this.#replacement;
    if (prior) this.#recent = [...this.#recent, prior].slice(-(RECENT_REPLACEMENTS - 1));
    this.#replacement = {
      detectedAt: now,
      changes,
      reprogrammedAt: undefined,
      failedPasses: prior && prior.reprogrammedAt === undefined ? prior.failedPasses : 0,
    };
    this.#statuses = this.#unavailableStatuses(changes);
    this.#metrics?.current.set(0);
    for (const c of changes) this.#metrics?.replacements.inc({ map: c.name, change: changeKind(c) });
    // Rare, but a pin that flaps would log every pass: once a minute at most, with what was not logged.
    const at = performance.now();
    if (at - this.#replacementLoggedAt < LOG_EVERY_MS) {
      this.#replacementsUnlogged++;
      return;
    }
    this.#log.warn(
      { maps: changes.map(describePinChange), notLogged: this.#replacementsUnlogged || undefined },
      "Cilium's pinned maps are not the ones kube-lb holds (re-created or removed); re-opening and re-programming them, the node's claims are not Programmed until then",
    );
    this.#replacementLoggedAt = at;
    this.#replacementsUnlogged = 0;
  }

  /** After a pass: while a replacement is not programmed, statuses say 'unavailable'. Returns whether they do. */
  #afterReplacement(error: Error | undefined): boolean {
    const r = this.#replacement;
    if (!r || r.reprogrammedAt !== undefined) return false;
    if (error) {
      this.#replacement = { ...r, failedPasses: r.failedPasses + 1 };
      this.#statuses = this.#unavailableStatuses(r.changes, error);
      return true;
    }
    const now = this.#now();
    this.#replacement = { ...r, reprogrammedAt: now };
    this.#metrics?.current.set(1);
    this.#log.info(
      { maps: r.changes.map(describePinChange), afterMs: now - r.detectedAt, failedPasses: r.failedPasses },
      're-created maps programmed in full; the node carries its claims again',
    );
    return false;
  }

  #unavailableStatuses(changes: readonly PinChange[], error?: Error): FrontendStatus[] {
    const what = changes.map(describePinChange).join(', ');
    const reason = `Cilium's lb maps were replaced under kube-lb (${what}); ${error ? `re-programming failed: ${error.message}` : 'not re-programmed yet'}`;
    const unavailable = this.#frontends.map(
      (f): FrontendStatus => ({
        name: f.name,
        origin: f.origin,
        state: 'unavailable',
        reason,
        code: MAPS_REPLACED,
        notes: [],
      }),
    );
    return [...rejectedStatuses(this.#rejected), ...unavailable];
  }

  /**
   * On a node kube-lb cannot serve, the plan wants nothing of kube-lb in the maps (entries left from before the
   * configuration changed are removed: they would carry traffic the wrong way), and every frontend says why.
   */
  #plan(snapshot: MapsSnapshot, sink: (op: MapOp) => void): Plan {
    const s = this.servability;
    if (s.ok) return this.#planner.plan(this.#frontends, this.#rejected, snapshot, sink);
    const plan = this.#planner.plan([], this.#rejected, snapshot, sink);
    const refused = this.#frontends.map(
      (f): FrontendStatus => ({
        name: f.name,
        origin: f.origin,
        state: 'refused',
        reason: s.message,
        code: s.reason,
        notes: [],
      }),
    );
    return { ...plan, statuses: [...plan.statuses, ...refused] };
  }

  #apply(maps: Lb4Maps, plan: Pick<Plan, 'ops'>): Applied {
    const applier = this.#applier(maps);
    for (const op of plan.ops) applier.apply(op);
    return applier.finish();
  }

  /**
   * Applies operations in the order given. Upserts go to the maps' writer (a thread of its own for kernel maps),
   * so the caller can plan the next ones meanwhile; every other operation first waits for them. After a failure
   * nothing more is applied; finish() waits for what is still being written and throws the first failure.
   */
  #applier(maps: Lb4Maps): { apply(op: MapOp): void; finish(): Applied } {
    const done = { absent: 0, changed: 0, deleted: 0 };
    const writer = maps.writer ?? IMMEDIATE_WRITER;
    let failure: unknown;
    const byteMap = (name: MapName): ByteMap => {
      const m = maps[name];
      invariant(m, () => `planner produced an operation for absent map ${name}`);
      return m;
    };
    const apply = (op: MapOp): void => {
      if (failure !== undefined) return;
      try {
        if (op.kind !== 'upsert') writer.settle();
        switch (op.kind) {
          case 'upsert':
            writer.upsert(byteMap(op.map), op.entries, UPSERT_LEVELS[op.step]);
            done.absent += op.absent;
            done.changed += op.changed;
            break;
          case 'delete':
            byteMap(op.map).remove(op.keys);
            done.deleted += op.keys.count;
            break;
          case 'maglev-set':
            for (const t of op.tables) maps.maglev?.set(t.serviceId, t.bytes, t.digest);
            done.absent += op.absent;
            done.changed += op.changed;
            break;
          case 'maglev-delete':
            maps.maglev?.remove(op.serviceIds);
            done.deleted += op.serviceIds.length;
            break;
          default:
            assertNever(op, 'map operation kind');
        }
      } catch (err) {
        failure = err;
      }
    };
    const finish = (): Applied => {
      try {
        writer.settle();
      } catch (err) {
        failure ??= err;
      }
      if (failure !== undefined) throw failure;
      return done;
    };
    return { apply, finish };
  }

  #record(result: PassResult, plan: Plan | undefined): void {
    this.#stats.passes++;
    this.#lastPass = result;
    const touched = result.absent + result.changed + result.deleted;
    if (result.error) {
      this.#stats.failedPasses++;
      this.#logFailure(result);
    } else {
      if (this.#failing) {
        this.#log.info(
          { failedPasses: this.#failing.count, lastError: this.#failing.message },
          'dataplane passes succeed again',
        );
        this.#failing = undefined;
      }
      if (plan && plan.moves.serviceIds + plan.moves.backendIds > 0) this.#recordMoves(plan.moves);
      if (result.repair && touched > 0) {
        this.#stats.repairedEntries += touched;
        this.#stats.repairPasses++;
        this.#metrics?.repairs.inc(touched);
        this.#log.warn(
          {
            absent: result.absent,
            changed: result.changed,
            deleted: result.deleted,
            steps: plan?.ops.map((o) => o.step),
          },
          'repaired map entries changed by someone else',
        );
      } else if (touched > 0) {
        this.#log.info({ absent: result.absent, changed: result.changed, deleted: result.deleted }, 'maps programmed');
      }
    }
    if (this.#metrics) {
      this.#metrics.passes.inc({ result: result.error ? 'error' : 'ok' });
      const counts = this.stats().frontends;
      for (const [state, n] of Object.entries(counts)) this.#metrics.frontends.set({ state }, n);
    }
    for (const l of this.#listeners) l(result);
  }

  /** Moves are rare (another writer reaching kube-lb's IDs): each pass that moves is counted and logged. */
  #recordMoves(moves: Plan['moves']): void {
    this.#idMoves.serviceIds += moves.serviceIds;
    this.#idMoves.backendIds += moves.backendIds;
    this.#metrics?.idMoves.inc({ kind: 'service' }, moves.serviceIds);
    this.#metrics?.idMoves.inc({ kind: 'backend' }, moves.backendIds);
    this.#log.warn(
      { serviceIds: moves.serviceIds, backendIds: moves.backendIds },
      "moved off IDs another writer uses now (Cilium's allocator reached them); their entries were written under new IDs, the other writer's were not touched",
    );
  }

  /** A pass failing every period logs once, then once a minute with the count, and says when it recovers. */
  #logFailure(result: PassResult): void {
    const message = result.error?.message ?? '';
    const at = performance.now();
    const f = this.#failing;
    if (f && f.message === message && at - f.loggedAt < LOG_EVERY_MS) {
      f.count++;
      return;
    }
    this.#log.error(
      {
        err: result.error,
        absent: result.absent,
        changed: result.changed,
        deleted: result.deleted,
        failedPasses: f ? f.count + 1 : 1,
      },
      'dataplane pass failed; retrying every period',
    );
    this.#failing = { message, count: f ? f.count + 1 : 1, loggedAt: at };
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
      const soon = this.#recheckSoon;
      this.#recheckSoon = false;
      this.#schedule(soon ? SETTLE_MS : this.periodMs);
    };
    if (delayMs === 0) {
      if (!this.#immediate) this.#immediate = setImmediate(run);
    } else {
      this.#timer = setTimeout(run, delayMs);
    }
  }
}
