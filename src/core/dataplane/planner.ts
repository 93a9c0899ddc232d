// The pure heart of the dataplane: from the desired frontends and a snapshot of the maps to an ordered list of
// map operations that makes the maps match without a moment in which a packet can reach a dangling entry.
//
// Order (make before break):
//   ids → backends → affinity-match, source ranges → slots → maglev tables → revNAT → masters
//   then stale masters → stale slots → stale maglev, revNAT → stale source ranges, affinity-match
//   → stale backends → stale ids.
// A master's count only grows after its new slots exist and only shrinks before its old slots go; a backend
// is written before anything points at it and deleted after nothing does. If applying stops part way, every
// prefix of this list leaves the maps consistent, and the next plan simply continues.
import {
  bytesEqual,
  PackedIndex,
  pickEntries,
  sliceEntries,
  type EntryTable,
  type PackedEntries,
} from '../bpf/packed.ts';
import { getHost32, getNet16, viewOf } from '../lb4/bytes.ts';
import type { Lb4Profile } from '../lb4/profile.ts';
import { formatIPv4 } from '../lb4/ipv4.ts';
import { LB4_MAPS } from '../lb4/maps.ts';
import type { LbAlgorithm } from '../cilium/config.ts';
import {
  backendEntryKey,
  backendEntryProto,
  backendHashedId,
  type Frontend,
  type RejectedFrontend,
} from './frontend.ts';
import { IntMap } from './int-map.ts';
import { frontendKeyString } from './id-table.ts';
import { BACKEND_ID_TOP, SERVICE_ID_TOP, TopDownIds } from './ids.ts';
import { ImageBuilder, type AssignedFrontend, type DesiredImage, type ImageMarks, type MaglevMemo } from './image.ts';
import { classify, type MapsSnapshot, type Ownership } from './ownership.ts';
import { invariant } from '../../shared/errors.ts';

export type MapName =
  | 'idTable'
  | 'backendIdTable'
  | 'backends'
  | 'services'
  | 'revNat'
  | 'sourceRange'
  | 'affinityMatch';

export type Step =
  | 'ids'
  | 'backends'
  | 'affinity-match'
  | 'source-ranges'
  | 'slots'
  | 'maglev'
  | 'rev-nat'
  | 'masters'
  | 'stale-masters'
  | 'stale-slots'
  | 'stale-maglev'
  | 'stale-rev-nat'
  | 'stale-source-ranges'
  | 'stale-affinity-match'
  | 'stale-backends'
  | 'stale-ids';

/**
 * The make-before-break level of an upsert step: what an entry of that step refers to is written at a lower level
 * (an ID record before the backend or service that uses it, a backend before the slots that name it, slots, revNAT
 * and source ranges before the master that counts them). A writer may reorder upserts of the same level, and may
 * write one before an earlier upsert of a higher level, never before an earlier one of a lower level. Steps not
 * listed are not upserts (they run after every queued upsert is written).
 */
export const UPSERT_LEVELS: Readonly<Partial<Record<Step, number>>> = {
  ids: 0,
  backends: 1,
  'affinity-match': 2,
  'source-ranges': 2,
  slots: 2,
  'rev-nat': 2,
  masters: 3,
};

export interface UpsertOp {
  readonly kind: 'upsert';
  readonly step: Step;
  readonly map: MapName;
  readonly entries: PackedEntries;
  /** Entries that were missing / present with other bytes. */
  readonly absent: number;
  readonly changed: number;
}

export interface DeleteOp {
  readonly kind: 'delete';
  readonly step: Step;
  readonly map: MapName;
  readonly keys: PackedEntries;
}

export interface MaglevTableWrite {
  readonly serviceId: number;
  readonly bytes: Uint8Array;
  readonly digest: string;
}

export interface MaglevSetOp {
  readonly kind: 'maglev-set';
  readonly step: 'maglev';
  readonly tables: readonly MaglevTableWrite[];
  readonly absent: number;
  readonly changed: number;
}

export interface MaglevDeleteOp {
  readonly kind: 'maglev-delete';
  readonly step: 'stale-maglev';
  readonly serviceIds: readonly number[];
}

export type MapOp = UpsertOp | DeleteOp | MaglevSetOp | MaglevDeleteOp;

/**
 * 'refused': the node's Cilium configuration is one kube-lb cannot serve (core/cilium/config.ts servability).
 * 'unavailable': the maps kube-lb held were re-created or removed under it, and the ones pinned now are not
 * (yet) re-opened and programmed.
 */
export type FrontendState =
  | 'programmed'
  | 'conflict'
  | 'rejected'
  | 'unsupported'
  | 'exhausted'
  | 'refused'
  | 'unavailable';

export interface FrontendStatus {
  readonly name: string;
  readonly origin: string | undefined;
  readonly state: FrontendState;
  /** Why it is not programmed, or 'ok'. */
  readonly reason: string;
  /** A stable reason (a claim condition reason) when the refusal has one: CiliumDSRMode, ... */
  readonly code?: string;
  readonly serviceId?: number;
  /** What was left out of a programmed frontend and why (e.g. affinity without the match map). */
  readonly notes: readonly string[];
}

export interface PlanSummary {
  readonly upserts: number;
  readonly deletes: number;
  /** Of the upserts: entries that were missing, and entries that held other bytes. */
  readonly absent: number;
  readonly changed: number;
}

export interface Plan {
  readonly ops: readonly MapOp[];
  readonly statuses: readonly FrontendStatus[];
  readonly summary: PlanSummary;
  /** The ownership the plan was made from (the CLI and stats read it). */
  readonly ownership: Ownership;
  /**
   * IDs kube-lb moved off in this plan because someone else now uses them (a service ID its table or a backend
   * ID its backend table held): each move rewrites that frontend's or backend's entries under a new ID.
   */
  readonly moves: { readonly serviceIds: number; readonly backendIds: number };
}

export interface PlannerOptions {
  readonly profile: Lb4Profile;
  /** The node's backend selection (Cilium's bpf-lb-algorithm), written into each master's algorithm byte. */
  readonly algorithm: LbAlgorithm;
  /** Set when the node selects with maglev: a table is then written for every service with active backends. */
  readonly maglev?: { readonly tableSize: number; readonly seed: number } | undefined;
  /** Source ranges are enforced (Cilium's check is on and its map is open). */
  readonly sourceRangeMap: boolean;
  /** Session affinity is compiled in and the match map is open. */
  readonly affinityMatchMap: boolean;
  /** max_entries of the maps kube-lb shares with Cilium, where known: kube-lb keeps within a budget of each. */
  readonly capacity?:
    | {
        readonly services?: number | undefined;
        readonly backends?: number | undefined;
        readonly revNat?: number | undefined;
      }
    | undefined;
}

/**
 * How many entries of a map kube-lb shares with Cilium may hold for kube-lb. Kept for Cilium's own Services: a
 * tenth of the map, at least 1,024 (half of a map under 2,048 entries); and when Cilium holds more than most of
 * that, its entries plus a quarter of it still free, so Cilium can always add some. A full map fails every write
 * into it, Cilium's included; with a budget, a tenant's many frontends are refused one by one ('exhausted',
 * MapFull) instead, the last listed first.
 */
export function kubeLbBudget(maxEntries: number, foreign: number): number {
  const reserve = Math.min(Math.floor(maxEntries / 2), Math.max(1024, Math.ceil(maxEntries / 10)));
  return Math.max(0, maxEntries - Math.max(reserve, foreign + Math.ceil(reserve / 4)));
}

/** The condition reason of a frontend refused for a full budget. */
export const MAP_FULL = 'MapFull';

/** Indexes of desired entries to write, changed ones first; or one run of them, all absent. */
interface Diff {
  readonly upserts: number[];
  readonly run?: { readonly from: number; readonly to: number };
  absent: number;
  changed: number;
}

/** Frontends per chunk of a new image: each chunk's entries go to the writer while the next chunk is built. */
const CHUNK_FRONTENDS = 1024;
const FIRST_CHUNK_FRONTENDS = 128;

/** Where a chunk of the plan ends: in the assigned frontends, and in each table of the image. */
interface ChunkEnd {
  readonly assigned: number;
  readonly marks: ImageMarks;
}

/** A holder no backend key equals (keys are ≥ 0): the ID is someone else's. */
const NOT_OURS = -1;

function assignAll(
  frontends: readonly Frontend[],
  assign: (f: Frontend) => AssignedFrontend | undefined,
): AssignedFrontend[] {
  const out: AssignedFrontend[] = [];
  for (let i = 0; i < frontends.length; i++) {
    const a = assign(frontends[i]!);
    if (a) out.push(a);
  }
  return out;
}

/** The statuses of frontends that normalisation rejected (they never reach the maps). */
export function rejectedStatuses(rejected: readonly RejectedFrontend[]): FrontendStatus[] {
  return rejected.map((r) => ({
    name: `${r.frontend.vip}:${r.frontend.port}/${r.frontend.protocol}`,
    origin: r.frontend.origin,
    state: 'rejected',
    reason: r.reason,
    notes: [],
  }));
}

/**
 * Plans map operations. IDs live in the maps (kube-lb's pinned ID tables), so a new process plans as the last
 * one did. Holds only memory that makes re-planning cheap or safe: the last desired image, a memo of maglev
 * tables, and the IDs change events showed someone else writing under. It does no I/O.
 */
export class MapPlanner {
  readonly options: PlannerOptions;
  readonly #contested = { serviceIds: new Set<number>(), backendIds: new Set<number>() };
  /** Just above where new service IDs start: the other allocator's position once it reached ours (ids.ts). */
  readonly #cursor = { service: SERVICE_ID_TOP + 1 };
  readonly #maglevMemo: MaglevMemo = new Map();
  #cache:
    | {
        readonly frontends: readonly Frontend[];
        readonly assigned: readonly AssignedFrontend[];
        readonly image: DesiredImage;
        readonly chunks: readonly ChunkEnd[];
      }
    | undefined;

  constructor(options: PlannerOptions) {
    this.options = options;
  }

  /** The desired image of the last plan: kube-lb's entries as the maps hold them once that plan is applied. */
  get image(): DesiredImage | undefined {
    return this.#cache?.image;
  }

  /**
   * IDs that another process wrote under, as its change events show (an update of one of our revNAT, maglev or
   * backend entries, say): they are foreign from the next plan on, so kube-lb moves off them and never writes or
   * deletes an entry under them, even before the maps show whose they are. Each is forgotten once no entry
   * under it is left.
   */
  contest(ids: { readonly serviceIds?: Iterable<number>; readonly backendIds?: Iterable<number> }): void {
    for (const id of ids.serviceIds ?? []) {
      this.#contested.serviceIds.add(id);
      this.#cursor.service = id;
    }
    for (const id of ids.backendIds ?? []) this.#contested.backendIds.add(id);
  }

  /**
   * Where the other allocator stands, from the service IDs of ours it took in this snapshot (the highest is its
   * latest: it walks up). New service IDs are taken below it (ids.ts); until a collision, from the top.
   */
  #followCollisions(own: Ownership): void {
    let service = 0;
    for (const [fk, id] of own.table)
      if (!own.ourServiceIds.has(id) && !own.takenOver.has(fk)) service = Math.max(service, id);
    if (service > 0) this.#cursor.service = service;
  }

  /** The IDs held contested now (for stats and tests). */
  get contested(): { readonly serviceIds: ReadonlySet<number>; readonly backendIds: ReadonlySet<number> } {
    return this.#contested;
  }

  #forgetContested(snapshot: MapsSnapshot): void {
    const { serviceIds, backendIds } = this.#contested;
    if (serviceIds.size > 0) {
      const present = new Set<number>(snapshot.maglev?.keys() ?? []);
      const rn = viewOf(snapshot.revNat.keys);
      for (let i = 0; i < snapshot.revNat.count; i++) present.add(getNet16(rn, i * snapshot.revNat.keySize));
      for (const id of serviceIds) if (!present.has(id)) serviceIds.delete(id);
    }
    if (backendIds.size > 0) {
      const present = new Set<number>();
      const be = viewOf(snapshot.backends.keys);
      for (let i = 0; i < snapshot.backends.count; i++) present.add(getHost32(be, i * snapshot.backends.keySize));
      for (const id of backendIds) if (!present.has(id)) backendIds.delete(id);
    }
  }

  /**
   * Plans the operations that make the maps hold `frontends`. `sink`, when given, receives each operation as
   * soon as it is final, in plan order: a new image is built and diffed in chunks of frontends, so the writer
   * can write one chunk while the next is planned. The plan's ops are the same operations, in the same order.
   */
  plan(
    frontends: readonly Frontend[],
    rejected: readonly RejectedFrontend[],
    snapshot: MapsSnapshot,
    sink?: (op: MapOp) => void,
  ): Plan {
    const { profile } = this.options;
    this.#forgetContested(snapshot);
    const own = classify(snapshot, profile, this.#contested);

    const statuses: FrontendStatus[] = rejectedStatuses(rejected);
    const backendCount = frontends.reduce((n, f) => n + f.backendCount, 0);
    // int32 keys (`id | 0`): kube-lb's backend IDs are above 2^31, and a Set of such doubles is slow to probe.
    const ourBackendIds = int32Set(own.ourBackendIds);
    const assigner = this.#assigner(own, ourBackendIds, statuses, backendCount, this.#overBudget(frontends, own));

    const ops: MapOp[] = [];
    let absent = 0;
    let changed = 0;
    let deletes = 0;
    const emit = (op: MapOp): void => {
      ops.push(op);
      sink?.(op);
    };
    const upsert = (step: Step, map: MapName, d: Diff, from: EntryTable): void => {
      if (d.absent + d.changed === 0) return;
      const entries = d.run ? sliceEntries(from, d.run.from, d.run.to) : pickEntries(from, d.upserts);
      emit({ kind: 'upsert', step, map, entries, absent: d.absent, changed: d.changed });
      absent += d.absent;
      changed += d.changed;
    };
    const remove = (step: Step, map: MapName, indexes: number[], from: PackedEntries): void => {
      if (indexes.length === 0) return;
      emit({ kind: 'delete', step, map, keys: pickEntries(from, indexes, true) });
      deletes += indexes.length;
    };

    const ourService = (id: number): boolean => own.ourServiceIds.has(id);
    const diffs = {
      idTable: new MapDiff(snapshot.idTable, () => true),
      backendIdTable: new MapDiff(snapshot.backendIdTable, () => true),
      backends: new MapDiff(snapshot.backends, (k, o) => ourBackendIds.has(getHost32(k, o) | 0)),
      services: new MapDiff(snapshot.services, (_k, _o, i) => own.ourServiceEntry[i] === 1),
      revNat: new MapDiff(snapshot.revNat, (k, o) => ourService(getNet16(k, o))),
      sourceRange: snapshot.sourceRange
        ? new MapDiff(snapshot.sourceRange, (k, o) => ourService(getNet16(k, o + 4)))
        : undefined,
      affinityMatch: snapshot.affinityMatch
        ? new MapDiff(snapshot.affinityMatch, (k, o) => ourService(getNet16(k, o + 4)))
        : undefined,
    };
    /** The upserts for one range of the image (a chunk, or all of it), in make-before-break order. */
    const upsertRange = (image: DesiredImage, from: ImageMarks, to: ImageMarks, serviceIds: Iterable<number>): void => {
      const range = (name: Exclude<MapName, 'services'>): Diff | undefined =>
        diffs[name]?.range(image[name], from[name], to[name]);
      const [slots, masters] = splitBySlot(
        diffs.services.range(image.services, from.services, to.services),
        image.services.keys,
      );
      upsert('ids', 'idTable', range('idTable')!, image.idTable);
      upsert('ids', 'backendIdTable', range('backendIdTable')!, image.backendIdTable);
      upsert('backends', 'backends', range('backends')!, image.backends);
      const aff = range('affinityMatch');
      if (aff) upsert('affinity-match', 'affinityMatch', aff, image.affinityMatch);
      const src = range('sourceRange');
      if (src) upsert('source-ranges', 'sourceRange', src, image.sourceRange);
      upsert('slots', 'services', slots, image.services);
      const set = this.#maglevSet(snapshot, image, serviceIds);
      if (set) {
        emit(set);
        absent += set.absent;
        changed += set.changed;
      }
      upsert('rev-nat', 'revNat', range('revNat')!, image.revNat);
      upsert('masters', 'services', masters, image.services);
    };

    // Frontends are assigned, built and handed over a chunk at a time, so the writer starts on the first chunk
    // while the rest is planned. With the same frontends as last time (a repair, a re-created map), each chunk
    // whose IDs came out as before is handed over from the last image; from the first chunk that differs on, a new
    // image is built (the chunks before it replayed into it unwritten: they were handed over already).
    const cached = this.#cache?.frontends === frontends ? this.#cache : undefined;
    let builder: ImageBuilder | undefined;
    const newBuilder = (): ImageBuilder => {
      const { algorithm, maglev, affinityMatchMap } = this.options;
      return new ImageBuilder({ profile, algorithm, maglev, affinityMatch: affinityMatchMap }, this.#maglevMemo, {
        frontends: frontends.length,
        slots: backendCount,
      });
    };
    if (!cached) builder = newBuilder();
    const all: AssignedFrontend[] = [];
    const ends: ChunkEnd[] = [];
    // A small first chunk, so the writer starts early; then chunks long enough to keep it busy.
    for (let k = 0, start = 0, size = FIRST_CHUNK_FRONTENDS; start < frontends.length; k++) {
      const chunk = assignAll(frontends.slice(start, start + size), assigner.assign);
      start += size;
      size = CHUNK_FRONTENDS;
      const before = ends[k - 1] ?? NO_CHUNK;
      for (let i = 0; i < chunk.length; i++) all.push(chunk[i]!);
      const serviceIds = chunk.map((a) => a.serviceId);
      if (!builder) {
        const last = cached!.chunks[k];
        if (last && sameAssignment(chunk, cached!.assigned.slice(before.assigned, last.assigned))) {
          upsertRange(cached!.image, before.marks, last.marks, serviceIds);
          ends.push(last);
          continue;
        }
        builder = newBuilder();
        for (let j = 0; j < k; j++) {
          for (let i = ends[j - 1]?.assigned ?? 0; i < ends[j]!.assigned; i++) builder.add(all[i]!);
          builder.endChunk();
        }
      }
      for (let i = 0; i < chunk.length; i++) builder.add(chunk[i]!);
      builder.endChunk();
      const marks = builder.marks();
      upsertRange(builder.image, before.marks, marks, serviceIds);
      ends.push({ assigned: all.length, marks });
    }
    let image: DesiredImage;
    if (builder) {
      image = builder.finish();
      this.#cache = { frontends, assigned: all, image, chunks: ends };
    } else {
      image = cached!.image;
    }

    const [slotDeletes, masterDeletes] = partition(diffs.services.deletes(), (i) =>
      isMaster(snapshot.services.keys, i),
    );
    remove('stale-masters', 'services', masterDeletes, snapshot.services);
    remove('stale-slots', 'services', slotDeletes, snapshot.services);
    const staleMaglev = this.#maglevStale(snapshot, image, own);
    if (staleMaglev) {
      emit(staleMaglev);
      deletes += staleMaglev.serviceIds.length;
    }
    remove('stale-rev-nat', 'revNat', diffs.revNat.deletes(), snapshot.revNat);
    if (diffs.sourceRange && snapshot.sourceRange)
      remove('stale-source-ranges', 'sourceRange', diffs.sourceRange.deletes(), snapshot.sourceRange);
    if (diffs.affinityMatch && snapshot.affinityMatch) {
      remove('stale-affinity-match', 'affinityMatch', diffs.affinityMatch.deletes(), snapshot.affinityMatch);
    }
    remove('stale-backends', 'backends', diffs.backends.deletes(), snapshot.backends);
    remove('stale-ids', 'idTable', diffs.idTable.deletes(), snapshot.idTable);
    remove('stale-ids', 'backendIdTable', diffs.backendIdTable.deletes(), snapshot.backendIdTable);
    return {
      ops,
      statuses,
      summary: { upserts: absent + changed, deletes, absent, changed },
      ownership: own,
      moves: assigner.moves,
    };
  }

  /**
   * Decides service and backend IDs, frontend by frontend in plan order (the planner assigns a chunk, then
   * builds it); records a status for every frontend. undefined for a frontend that is not programmed.
   */
  #assigner(
    own: Ownership,
    /** own.ourBackendIds as int32 (`id | 0`). */
    ourIds: ReadonlySet<number>,
    statuses: FrontendStatus[],
    backendCount: number,
    overBudget: ReadonlyMap<Frontend, string> | undefined,
  ): { assign(f: Frontend): AssignedFrontend | undefined; readonly moves: Plan['moves'] } {
    const tableIds = new Set(own.table.values());
    const newServiceIds = new Set<number>();
    this.#followCollisions(own);
    const serviceIds = new TopDownIds(
      SERVICE_ID_TOP,
      (id) => tableIds.has(id) || own.foreignServiceIds.has(id) || newServiceIds.has(id),
      this.#cursor.service - 1,
    );
    // Backend IDs in these sets are int32 (`id | 0`) so that kube-lb's IDs, above 2^31, stay small integers.
    const foreignIds = int32Set(own.foreignBackendIds);
    const recordedIds = int32Set(own.backendTable.values());
    /** IDs handed out in this plan → the backend (backendEntryKey) that has it. */
    const takenNow = new IntMap(backendCount);
    // Skipped when empty (a first start): a Map lookup with a 50-bit key is not free at 100k backends.
    const inMaps = own.ourBackendsByKey.size > 0;
    const anyRecorded = own.backendTable.size > 0;
    const { profile } = this.options;
    /** Backends of this plan under an ID that is not their hashed or recorded one (it was in use). */
    const displaced = new Map<number, number>();
    /** Whether an ID is in the maps or the table for something else (this plan's own IDs are in takenNow). */
    // Only the sets that hold something are asked (a first start has none: three lookups per backend saved).
    const holders = [foreignIds, ourIds, recordedIds].filter((ids) => ids.size > 0);
    const elsewhere = (id: number): boolean => holders.some((ids) => ids.has(id | 0));
    const taken = (id: number): boolean => elsewhere(id) || takenNow.has(id);
    const byFrontendKey = new Map<string, Frontend>();
    const moves = { serviceIds: 0, backendIds: 0 };
    const assign = (f: Frontend): AssignedFrontend | undefined => {
      const fk = frontendKeyString({ address: f.address, port: f.port, proto: f.keyProto, scope: 0 });
      const refusal = this.#refusal(f, fk, byFrontendKey.get(fk), own);
      if (refusal) {
        statuses.push({ name: f.name, origin: f.origin, state: refusal[0], reason: refusal[1], notes: [] });
        return undefined;
      }
      byFrontendKey.set(fk, f);
      const full = overBudget?.get(f);
      if (full) {
        statuses.push({ name: f.name, origin: f.origin, state: 'exhausted', reason: full, code: MAP_FULL, notes: [] });
        return undefined;
      }
      let serviceId = own.table.get(fk);
      if (serviceId === undefined || !own.ourServiceIds.has(serviceId)) {
        if (serviceId !== undefined && !own.takenOver.has(fk)) moves.serviceIds++;
        serviceId = serviceIds.take();
        if (serviceId !== undefined) newServiceIds.add(serviceId);
      }
      if (serviceId === undefined) {
        statuses.push({
          name: f.name,
          origin: f.origin,
          state: 'exhausted',
          reason: 'no free service ID left',
          notes: [],
        });
        return undefined;
      }
      const ids: number[] = [];
      const backends = f.backends;
      const firstUse = new Uint8Array(backends.length);
      for (let i = 0; i < backends.length; i++) {
        const b = backends[i]!;
        // The entry in the maps, else the ID the backend table records for it (it had to take another ID
        // once), else its hashed ID: a deleted entry comes back under its ID, so conntrack entries that name
        // the ID still reach it. When that ID is in use, the next free one below it. Each ID serves one backend.
        const key = backendEntryKey(b.address, b.port, backendEntryProto(b, profile));
        let id = inMaps ? own.ourBackendsByKey.get(key) : undefined;
        // takenNow's holder of the ID before this backend claimed it: undefined when this is its first use.
        let holder: number | undefined;
        if (id === undefined) {
          const recorded = anyRecorded ? own.backendTable.get(key) : undefined;
          const wanted = recorded ?? backendHashedId(b, profile);
          const free = recorded !== undefined ? !foreignIds.has(wanted | 0) : !elsewhere(wanted);
          holder = free ? takenNow.claim(wanted, key) : NOT_OURS;
          if (holder === undefined || holder === key) {
            id = wanted;
          } else {
            id = displaced.get(key);
            if (id === undefined) {
              id = new TopDownIds(BACKEND_ID_TOP, taken, wanted - 1).take();
              if (id === undefined) break;
              displaced.set(key, id);
              if (foreignIds.has(wanted | 0)) moves.backendIds++;
            }
            holder = takenNow.claim(id, key);
          }
        } else {
          holder = takenNow.claim(id, key);
        }
        // The first frontend of this plan to use the backend writes its entry (backends are shared).
        if (holder === undefined) firstUse[ids.length] = 1;
        ids.push(id);
      }
      if (ids.length < backends.length) {
        statuses.push({
          name: f.name,
          origin: f.origin,
          state: 'exhausted',
          reason: 'no free backend ID left',
          notes: [],
        });
        return undefined;
      }
      const notes: string[] = [];
      const wantsAffinity = f.affinityTimeout !== undefined;
      const affinity = wantsAffinity && this.options.affinityMatchMap;
      if (wantsAffinity && !affinity) {
        notes.push(
          'session affinity left out: Cilium has session affinity off on this node (enable-session-affinity, or no cilium_lb_affinity_match map)',
        );
      }
      statuses.push({ name: f.name, origin: f.origin, state: 'programmed', reason: 'ok', serviceId, notes });
      return { frontend: f, serviceId, backendIds: ids, firstUse, affinity };
    };
    return { assign, moves };
  }

  /**
   * The frontends that do not fit in kube-lb's share of the maps (kubeLbBudget), with why: the first places of the
   * desired list are served (the speaker lists claims oldest first), the rest refused whole. Every backend is
   * counted as an entry of its own, which errs safe where frontends share backends. undefined: all fit.
   */
  #overBudget(frontends: readonly Frontend[], own: Ownership): Map<Frontend, string> | undefined {
    const capacity = this.options.capacity;
    if (!capacity) return undefined;
    const maps = ['services', 'backends', 'revNat'] as const;
    const budget = { services: Infinity, backends: Infinity, revNat: Infinity };
    for (const m of maps) if (capacity[m] !== undefined) budget[m] = kubeLbBudget(capacity[m], own.foreignEntries[m]);
    const needOf = (f: Frontend) => ({ services: 1 + f.backends.length, backends: f.backends.length, revNat: 1 });
    const total = { services: 0, backends: 0, revNat: 0 };
    for (let i = 0; i < frontends.length; i++) {
      const f = frontends[i]!;
      total.services += 1 + f.backendCount;
      total.backends += f.backendCount;
      total.revNat += 1;
    }
    if (maps.every((m) => total[m] <= budget[m])) return undefined;
    const out = new Map<Frontend, string>();
    const used = { services: 0, backends: 0, revNat: 0 };
    for (const f of [...frontends].sort((a, b) => a.priority - b.priority)) {
      const need = needOf(f);
      const full = maps.find((m) => used[m] + need[m] > budget[m]);
      if (full === undefined) {
        for (const m of maps) used[m] += need[m];
        continue;
      }
      out.set(
        f,
        `${LB4_MAPS[full].name} is full for kube-lb: ${used[full]} of its ${budget[full]} entries taken by earlier frontends, ` +
          `${need[full]} more needed (the rest of the map's ${capacity[full]} is kept for Cilium's own Services)`,
      );
    }
    return out;
  }

  /** Why a frontend cannot be programmed at all, or undefined. */
  #refusal(f: Frontend, fk: string, twin: Frontend | undefined, own: Ownership): [FrontendState, string] | undefined {
    if (twin) {
      return [
        'conflict',
        twin.proto === f.proto
          ? `duplicate of ${twin.name}`
          : `Cilium ${this.options.profile.version} keys services without protocol; ${twin.name} already uses this address and port`,
      ];
    }
    if (own.takenOver.has(fk) || own.foreignFrontends.has(fk)) {
      return ['conflict', `another owner (Cilium itself?) has service entries for ${f.name}`];
    }
    if (own.foreignWildcards.has(f.address)) {
      return [
        'conflict',
        `Cilium has a wildcard entry for ${formatIPv4(f.address)} (port 0, protocol 0: it serves this IP itself and drops ports it does not know)`,
      ];
    }
    if (f.sourceRanges.length > 0 && !this.options.sourceRangeMap) {
      return [
        'unsupported',
        'source ranges requested but Cilium does not enforce them on this node (enable-svc-source-range-check ' +
          'off, no kube-proxy replacement, or no cilium_lb4_source_range map); not exposing the VIP to every client',
      ];
    }
    return undefined;
  }

  /** The maglev tables of these services that the maps lack or hold with other contents. */
  #maglevSet(snapshot: MapsSnapshot, image: DesiredImage, serviceIds: Iterable<number>): MaglevSetOp | undefined {
    const current = snapshot.maglev;
    if (!current || !this.options.maglev) return undefined;
    const tables: MaglevTableWrite[] = [];
    let absent = 0;
    let changed = 0;
    for (const serviceId of serviceIds) {
      const want = image.maglev.get(serviceId);
      if (!want) continue;
      const cur = current.get(serviceId);
      if (cur && cur.digest === want.digest) continue;
      if (cur) changed++;
      else absent++;
      tables.push({ serviceId, bytes: want.bytes, digest: want.digest });
    }
    return tables.length ? { kind: 'maglev-set', step: 'maglev', tables, absent, changed } : undefined;
  }

  /** Our maglev tables of services the image no longer has. */
  #maglevStale(snapshot: MapsSnapshot, image: DesiredImage, own: Ownership): MaglevDeleteOp | undefined {
    const current = snapshot.maglev;
    if (!current || !this.options.maglev) return undefined;
    const stale = [...current.keys()].filter((id) => own.ourServiceIds.has(id) && !image.maglev.has(id));
    return stale.length ? { kind: 'maglev-delete', step: 'stale-maglev', serviceIds: stale } : undefined;
  }
}

function int32Set(ids: Iterable<number>): Set<number> {
  const out = new Set<number>();
  for (const id of ids) out.add(id | 0);
  return out;
}

function sameAssignment(a: readonly AssignedFrontend[], b: readonly AssignedFrontend[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.frontend !== y.frontend || x.serviceId !== y.serviceId || x.affinity !== y.affinity) return false;
    if (x.backendIds.length !== y.backendIds.length) return false;
    for (let j = 0; j < x.backendIds.length; j++) if (x.backendIds[j] !== y.backendIds[j]) return false;
  }
  return true;
}

/**
 * One map's current entries against the desired image, range by range: desired entries that the map lacks or
 * holds with other bytes (changed ones first), and at the end the current entries that are ours
 * (`ours(keysView, offset, index)`) but were in no range. A desired key held by a foreign entry is a planner bug.
 */
class MapDiff {
  readonly #current: PackedEntries;
  readonly #ours: (keys: DataView, offset: number, index: number) => boolean;
  readonly #keysView: DataView;
  readonly #seen: Uint8Array;
  #index: PackedIndex | undefined;

  constructor(current: PackedEntries, ours: (keys: DataView, offset: number, index: number) => boolean) {
    this.#current = current;
    this.#ours = ours;
    this.#keysView = viewOf(current.keys);
    this.#seen = new Uint8Array(current.count);
  }

  range(desired: EntryTable, from: number, to: number): Diff {
    const current = this.#current;
    const { keySize, valueSize } = current;
    const changedAt: number[] = [];
    const absentAt: number[] = [];
    if (current.count === 0) {
      // Nothing to compare against (a first start, a re-created map): the range is written as it is.
      return { upserts: [], run: { from, to }, absent: to - from, changed: 0 };
    } else {
      this.#index ??= new PackedIndex(current);
      for (let j = from; j < to; j++) {
        const i = this.#index.get(desired.keys, j * keySize);
        if (i === undefined) {
          absentAt.push(j);
          continue;
        }
        // Checked before invariant() is called: a message closure per entry is not free at 220,000 entries.
        if (!this.#ours(this.#keysView, i * keySize, i))
          invariant(false, `planner: a desired ${keySize}-byte key is held by a foreign entry`);
        this.#seen[i] = 1;
        if (!bytesEqual(current.values, i * valueSize, desired.values, j * valueSize, valueSize)) changedAt.push(j);
      }
    }
    const upserts = changedAt.length ? changedAt.concat(absentAt) : absentAt;
    return { upserts, absent: absentAt.length, changed: changedAt.length };
  }

  /** Current entries of ours that no range wanted. */
  deletes(): number[] {
    const out: number[] = [];
    const { keySize } = this.#current;
    for (let i = 0; i < this.#current.count; i++) {
      if (!this.#seen[i] && this.#ours(this.#keysView, i * keySize, i)) out.push(i);
    }
    return out;
  }
}

const NO_ENTRIES: ImageMarks = {
  idTable: 0,
  backendIdTable: 0,
  backends: 0,
  services: 0,
  revNat: 0,
  sourceRange: 0,
  affinityMatch: 0,
};

const NO_CHUNK: ChunkEnd = { assigned: 0, marks: NO_ENTRIES };

/** lb4_key bytes 6–7 are the slot; both zero means master. */
function isMaster(keys: Uint8Array, index: number): boolean {
  return keys[index * 12 + 6] === 0 && keys[index * 12 + 7] === 0;
}

function partition<T>(items: readonly T[], pred: (t: T) => boolean): [T[], T[]] {
  const no: T[] = [];
  const yes: T[] = [];
  for (const t of items) (pred(t) ? yes : no).push(t);
  return [no, yes];
}

function splitBySlot(d: Diff, desiredKeys: Uint8Array): [Diff, Diff] {
  if (d.run) {
    // Within a chunk, masters follow slots (ImageBuilder.endChunk): the run splits at its first master.
    const { from, to } = d.run;
    let m = from;
    while (m < to && !isMaster(desiredKeys, m)) m++;
    let n = m;
    while (n < to && isMaster(desiredKeys, n)) n++;
    invariant(n === to, () => 'planner: a run of service entries spans more than one chunk');
    return [
      { upserts: [], run: { from, to: m }, absent: m - from, changed: 0 },
      { upserts: [], run: { from: m, to }, absent: to - m, changed: 0 },
    ];
  }
  const slots: Diff = { upserts: [], absent: 0, changed: 0 };
  const masters: Diff = { upserts: [], absent: 0, changed: 0 };
  // Recount absent/changed per side from the order MapDiff produced: changed entries come first.
  d.upserts.forEach((e, i) => {
    const side = isMaster(desiredKeys, e) ? masters : slots;
    side.upserts.push(e);
    if (i < d.changed) side.changed++;
    else side.absent++;
  });
  return [slots, masters];
}
