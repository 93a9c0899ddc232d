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
import { bytesKey, bytesEqual, pickEntries, type EntryTable, type PackedEntries } from '../bpf/packed.ts';
import { getHost32, getNet16, viewOf } from '../lb4/bytes.ts';
import type { Lb4Profile } from '../lb4/profile.ts';
import { formatIPv4 } from '../lb4/ipv4.ts';
import type { LbAlgorithm } from '../cilium/config.ts';
import type { Frontend, RejectedFrontend } from './frontend.ts';
import { frontendKeyString } from './id-table.ts';
import { BACKEND_ID_TOP, SERVICE_ID_TOP, TopDownIds } from './ids.ts';
import { buildImage, type AssignedFrontend, type DesiredImage, type MaglevMemo } from './image.ts';
import { classify, type MapsSnapshot, type Ownership } from './ownership.ts';

export type MapName = 'idTable' | 'backendIdTable' | 'backends' | 'services' | 'revNat' | 'sourceRange' | 'affinityMatch';

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
export type FrontendState = 'programmed' | 'conflict' | 'rejected' | 'unsupported' | 'exhausted' | 'refused' | 'unavailable';

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
}

/** Indexes of desired entries to write (changed ones first) and of current entries to delete. */
interface Diff {
  readonly upserts: number[];
  readonly deletes: number[];
  absent: number;
  changed: number;
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
  /** Just above where new IDs start: the other allocator's position once it reached ours (see ids.ts). */
  readonly #cursor = { service: SERVICE_ID_TOP + 1, backend: BACKEND_ID_TOP + 1 };
  readonly #maglevMemo: MaglevMemo = new Map();
  #cache: { frontends: readonly Frontend[]; assigned: readonly AssignedFrontend[]; image: DesiredImage } | undefined;

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
    for (const id of ids.backendIds ?? []) {
      this.#contested.backendIds.add(id);
      this.#cursor.backend = id;
    }
  }

  /**
   * Where the other allocator stands, from the IDs of ours it took in this snapshot (the highest is its latest:
   * it walks up). New IDs are taken below it (ids.ts); until a collision, from the top.
   */
  #followCollisions(own: Ownership): void {
    let service = 0;
    for (const [fk, id] of own.table) if (!own.ourServiceIds.has(id) && !own.takenOver.has(fk)) service = Math.max(service, id);
    if (service > 0) this.#cursor.service = service;
    let backend = 0;
    for (const id of own.backendTable.values()) if (own.foreignBackendIds.has(id)) backend = Math.max(backend, id);
    if (backend > 0) this.#cursor.backend = backend;
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

  plan(frontends: readonly Frontend[], rejected: readonly RejectedFrontend[], snapshot: MapsSnapshot): Plan {
    const { profile } = this.options;
    this.#forgetContested(snapshot);
    const own = classify(snapshot, profile, this.#contested);

    const statuses: FrontendStatus[] = rejectedStatuses(rejected);
    const assigned = this.#assign(frontends, own, statuses);
    const image = this.#image(frontends, assigned.frontends);

    const ops: MapOp[] = [];
    let absent = 0;
    let changed = 0;
    let deletes = 0;
    const upsert = (step: Step, map: MapName, d: Diff, from: EntryTable): void => {
      if (d.upserts.length === 0) return;
      ops.push({ kind: 'upsert', step, map, entries: pickEntries(from, d.upserts), absent: d.absent, changed: d.changed });
      absent += d.absent;
      changed += d.changed;
    };
    const remove = (step: Step, map: MapName, indexes: number[], from: PackedEntries): void => {
      if (indexes.length === 0) return;
      ops.push({ kind: 'delete', step, map, keys: pickEntries(from, indexes, true) });
      deletes += indexes.length;
    };

    const ourService = (id: number): boolean => own.ourServiceIds.has(id);
    const idsDiff = diffMap(snapshot.idTable, image.idTable, () => true);
    const backendIdsDiff = diffMap(snapshot.backendIdTable, image.backendIdTable, () => true);
    const backendsDiff = diffMap(snapshot.backends, image.backends, (k, o) => own.ourBackendIds.has(getHost32(k, o)));
    const servicesDiff = diffMap(snapshot.services, image.services, (_k, _o, i) => own.ourServiceEntry[i] === 1);
    const revNatDiff = diffMap(snapshot.revNat, image.revNat, (k, o) => ourService(getNet16(k, o)));
    const srcDiff = snapshot.sourceRange
      ? diffMap(snapshot.sourceRange, image.sourceRange, (k, o) => ourService(getNet16(k, o + 4)))
      : undefined;
    const affDiff = snapshot.affinityMatch
      ? diffMap(snapshot.affinityMatch, image.affinityMatch, (k, o) => ourService(getNet16(k, o + 4)))
      : undefined;
    const [slotUpserts, masterUpserts] = splitBySlot(servicesDiff, image.services.keys);
    const [slotDeletes, masterDeletes] = partition(servicesDiff.deletes, (i) => isMaster(snapshot.services.keys, i));

    upsert('ids', 'idTable', idsDiff, image.idTable);
    upsert('ids', 'backendIdTable', backendIdsDiff, image.backendIdTable);
    upsert('backends', 'backends', backendsDiff, image.backends);
    if (affDiff) upsert('affinity-match', 'affinityMatch', affDiff, image.affinityMatch);
    if (srcDiff) upsert('source-ranges', 'sourceRange', srcDiff, image.sourceRange);
    upsert('slots', 'services', slotUpserts, image.services);
    const maglevOps = this.#maglevOps(snapshot, image, own);
    if (maglevOps.set) {
      ops.push(maglevOps.set);
      absent += maglevOps.set.absent;
      changed += maglevOps.set.changed;
    }
    upsert('rev-nat', 'revNat', revNatDiff, image.revNat);
    upsert('masters', 'services', masterUpserts, image.services);
    remove('stale-masters', 'services', masterDeletes, snapshot.services);
    remove('stale-slots', 'services', slotDeletes, snapshot.services);
    if (maglevOps.remove) {
      ops.push(maglevOps.remove);
      deletes += maglevOps.remove.serviceIds.length;
    }
    remove('stale-rev-nat', 'revNat', revNatDiff.deletes, snapshot.revNat);
    if (srcDiff && snapshot.sourceRange) remove('stale-source-ranges', 'sourceRange', srcDiff.deletes, snapshot.sourceRange);
    if (affDiff && snapshot.affinityMatch) {
      remove('stale-affinity-match', 'affinityMatch', affDiff.deletes, snapshot.affinityMatch);
    }
    remove('stale-backends', 'backends', backendsDiff.deletes, snapshot.backends);
    remove('stale-ids', 'idTable', idsDiff.deletes, snapshot.idTable);
    remove('stale-ids', 'backendIdTable', backendIdsDiff.deletes, snapshot.backendIdTable);
    return {
      ops,
      statuses,
      summary: { upserts: absent + changed, deletes, absent, changed },
      ownership: own,
      moves: assigned.moves,
    };
  }

  /** Decides service and backend IDs; records a status for every frontend. */
  #assign(
    frontends: readonly Frontend[],
    own: Ownership,
    statuses: FrontendStatus[],
  ): { frontends: AssignedFrontend[]; moves: Plan['moves'] } {
    const tableIds = new Set(own.table.values());
    const newServiceIds = new Set<number>();
    this.#followCollisions(own);
    const serviceIds = new TopDownIds(
      SERVICE_ID_TOP,
      (id) => tableIds.has(id) || own.foreignServiceIds.has(id) || newServiceIds.has(id),
      this.#cursor.service - 1,
    );
    // Backend IDs in these sets are int32 (`id | 0`) so that kube-lb's IDs, just below 2^32, stay small integers.
    const foreignIds = int32Set(own.foreignBackendIds);
    const ourIds = int32Set(own.ourBackendIds);
    const recordedIds = int32Set(own.backendTable.values());
    const backendIds = new TopDownIds(
      BACKEND_ID_TOP,
      (id) => foreignIds.has(id | 0) || ourIds.has(id | 0) || recordedIds.has(id | 0),
      this.#cursor.backend - 1,
    );
    const byFrontendKey = new Map<string, Frontend>();
    const moves = { serviceIds: 0, backendIds: 0 };
    /** Backends given a new ID in this plan (one backend can serve several frontends). */
    const newIds = new Map<number, number>();
    const assigned: AssignedFrontend[] = [];
    for (const f of frontends) {
      const fk = frontendKeyString({ address: f.address, port: f.port, proto: f.keyProto, scope: 0 });
      const refusal = this.#refusal(f, fk, byFrontendKey.get(fk), own);
      if (refusal) {
        statuses.push({ name: f.name, origin: f.origin, state: refusal[0], reason: refusal[1], notes: [] });
        continue;
      }
      byFrontendKey.set(fk, f);
      let serviceId = own.table.get(fk);
      if (serviceId === undefined || !own.ourServiceIds.has(serviceId)) {
        if (serviceId !== undefined && !own.takenOver.has(fk)) moves.serviceIds++;
        serviceId = serviceIds.take();
        if (serviceId !== undefined) newServiceIds.add(serviceId);
      }
      if (serviceId === undefined) {
        statuses.push({ name: f.name, origin: f.origin, state: 'exhausted', reason: 'no free service ID left', notes: [] });
        continue;
      }
      const ids: number[] = [];
      for (const b of f.backends) {
        // The entry in the maps, else the backend table (the entry was deleted: it comes back under its ID, so
        // conntrack entries that name the ID still reach it), else a new ID. Each ID serves one backend.
        const recorded = own.backendTable.get(b.entryKey);
        const usable = recorded !== undefined && !foreignIds.has(recorded | 0) ? recorded : undefined;
        let id = own.ourBackendsByKey.get(b.entryKey) ?? usable ?? newIds.get(b.entryKey);
        if (id === undefined) {
          id = backendIds.take();
          if (id === undefined) break;
          newIds.set(b.entryKey, id);
          if (recorded !== undefined) moves.backendIds++;
        }
        ids.push(id);
      }
      if (ids.length < f.backends.length) {
        statuses.push({ name: f.name, origin: f.origin, state: 'exhausted', reason: 'no free backend ID left', notes: [] });
        continue;
      }
      const notes: string[] = [];
      const wantsAffinity = f.affinityTimeout !== undefined;
      const affinity = wantsAffinity && this.options.affinityMatchMap;
      if (wantsAffinity && !affinity) {
        notes.push('session affinity left out: Cilium has session affinity off on this node (enable-session-affinity, or no cilium_lb_affinity_match map)');
      }
      assigned.push({ frontend: f, serviceId, backendIds: ids, affinity });
      statuses.push({ name: f.name, origin: f.origin, state: 'programmed', reason: 'ok', serviceId, notes });
    }
    return { frontends: assigned, moves };
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

  /** The desired image, rebuilt only when the frontends or any ID changed since the last plan. */
  #image(frontends: readonly Frontend[], assigned: readonly AssignedFrontend[]): DesiredImage {
    const c = this.#cache;
    if (c && c.frontends === frontends && sameAssignment(c.assigned, assigned)) return c.image;
    const { profile, algorithm, maglev, affinityMatchMap } = this.options;
    const image = buildImage(assigned, { profile, algorithm, maglev, affinityMatch: affinityMatchMap }, this.#maglevMemo);
    this.#cache = { frontends, assigned, image };
    return image;
  }

  #maglevOps(
    snapshot: MapsSnapshot,
    image: DesiredImage,
    own: Ownership,
  ): { set?: MaglevSetOp; remove?: MaglevDeleteOp } {
    const current = snapshot.maglev;
    if (!current || !this.options.maglev) return {};
    const tables: MaglevTableWrite[] = [];
    let absent = 0;
    let changed = 0;
    for (const [serviceId, want] of image.maglev) {
      const cur = current.get(serviceId);
      if (cur && cur.digest === want.digest) continue;
      if (cur) changed++;
      else absent++;
      tables.push({ serviceId, bytes: want.bytes, digest: want.digest });
    }
    const stale = [...current.keys()].filter((id) => own.ourServiceIds.has(id) && !image.maglev.has(id));
    return {
      ...(tables.length ? { set: { kind: 'maglev-set', step: 'maglev', tables, absent, changed } as const } : {}),
      ...(stale.length ? { remove: { kind: 'maglev-delete', step: 'stale-maglev', serviceIds: stale } as const } : {}),
    };
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
 * Entries of `desired` that `current` lacks or holds with other bytes, and current entries that are ours
 * (`ours(keysView, offset, index)`) but not desired. A desired key held by a foreign entry is a planner bug.
 */
function diffMap(
  current: PackedEntries,
  desired: EntryTable,
  ours: (keys: DataView, offset: number, index: number) => boolean,
): Diff {
  const diff: Diff = { upserts: [], deletes: [], absent: 0, changed: 0 };
  const { keySize, valueSize } = current;
  const keysView = viewOf(current.keys);
  const seen = new Uint8Array(desired.count);
  for (let i = 0; i < current.count; i++) {
    const want = desired.index.get(bytesKey(current.keys, i * keySize, keySize));
    const mine = ours(keysView, i * keySize, i);
    if (want === undefined) {
      if (mine) diff.deletes.push(i);
      continue;
    }
    if (!mine) throw new Error(`planner bug: a desired ${keySize}-byte key is held by a foreign entry`);
    seen[want] = 1;
    if (!bytesEqual(current.values, i * valueSize, desired.values, want * valueSize, valueSize)) {
      diff.upserts.push(want);
      diff.changed++;
    }
  }
  for (let j = 0; j < desired.count; j++) {
    if (seen[j]) continue;
    diff.upserts.push(j);
    diff.absent++;
  }
  return diff;
}

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
  const slots: Diff = { upserts: [], deletes: [], absent: 0, changed: 0 };
  const masters: Diff = { upserts: [], deletes: [], absent: 0, changed: 0 };
  // Recount absent/changed per side from the order diffMap produced: changed entries come first.
  d.upserts.forEach((e, i) => {
    const side = isMaster(desiredKeys, e) ? masters : slots;
    side.upserts.push(e);
    if (i < d.changed) side.changed++;
    else side.absent++;
  });
  return [slots, masters];
}
