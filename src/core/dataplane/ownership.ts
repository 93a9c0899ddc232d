// Which entries in the maps are kube-lb's, decided from the maps alone (plus the IDs that change events showed
// someone else writing). The rule, in order:
//  - A frontend (lb4_key without slot) is ours if our ID table lists it and its master, when present, carries
//    one of our service IDs. If the master carries another ID, someone else took the VIP over: not ours.
//  - A services entry is ours if its frontend is ours and its rev_nat_index is one of our IDs.
//  - Every ID that a foreign entry uses is foreign, even if our tables list it: we move off it, never write it.
//    A revNAT entry under one of our IDs that names another frontend than our table's is foreign too: Cilium's
//    allocator reached our ID (it writes revNAT before its master).
//  - A revNAT / maglev / source-range / affinity-match entry is ours if its service ID is ours.
//  - A backend is ours if our backend table records it under its ID, or, with no record for the ID, if the ID
//    is the one its content hashes to (ids.ts); and no foreign slot points at it. Cilium counts up from 1: to
//    hand out the hashed ID of that very backend, it would first have to hand out 2^31 others. So a backend of
//    another content under one of our IDs is someone else's, as Cilium writes backends before the slots that
//    point at them.
//    Anything else is foreign and is never modified or deleted.
//  - A foreign master with port 0 and protocol 0 is a wildcard (Cilium 1.19+ writes one per LB IP it manages, to
//    drop traffic to ports it does not serve): its address belongs to someone else as a whole.
import { bytesKey, type PackedEntries } from '../bpf/packed.ts';
import { getHost16, getHost32, getNet16, getNet32, viewOf } from '../lb4/bytes.ts';
import { LB4_KEY_OFFSETS } from '../lb4/service-key.ts';
import { LB4_SERVICE_OFFSETS } from '../lb4/service-value.ts';
import type { Lb4Profile } from '../lb4/profile.ts';
import { backendEntryKey } from './frontend.ts';
import { hashedBackendId } from './ids.ts';
import { frontendKeyOfServiceKey } from './id-table.ts';
import { IntMap, type ReadonlyIntMap } from './int-map.ts';

export interface MaglevObserved {
  /** Kernel ID of the inner map the outer entry points at. */
  readonly innerId: number;
  /** Digest of the inner table's bytes (maglev-digest.ts), when known. */
  readonly digest: string | undefined;
}

/** The maps as read at one moment. Optional maps are absent when Cilium does not create them. */
export interface MapsSnapshot {
  readonly services: PackedEntries;
  readonly backends: PackedEntries;
  readonly revNat: PackedEntries;
  readonly idTable: PackedEntries;
  readonly backendIdTable: PackedEntries;
  readonly sourceRange?: PackedEntries | undefined;
  readonly affinityMatch?: PackedEntries | undefined;
  readonly maglev?: ReadonlyMap<number, MaglevObserved> | undefined;
}

export interface Ownership {
  /** Our ID table: frontend key → service ID. */
  readonly table: ReadonlyMap<string, number>;
  /** Frontends in our table whose master now belongs to someone else. */
  readonly takenOver: ReadonlySet<string>;
  /** Frontend keys with at least one foreign services entry. */
  readonly foreignFrontends: ReadonlySet<string>;
  /** Addresses (host-order u32) of foreign wildcard masters {address, dport 0, proto 0}. */
  readonly foreignWildcards: ReadonlySet<number>;
  /** Table IDs that no foreign entry uses. */
  readonly ourServiceIds: ReadonlySet<number>;
  readonly foreignServiceIds: ReadonlySet<number>;
  readonly ourBackendIds: ReadonlySet<number>;
  readonly foreignBackendIds: ReadonlySet<number>;
  /** Our backend entries by entry identity (backendEntryKey); the highest ID wins a duplicate. */
  readonly ourBackendsByKey: ReadonlyIntMap;
  /**
   * Our backend table: entry identity → ID of the backends whose ID is not their hashed one, foreign IDs
   * included (a backend whose ID is foreign moves).
   */
  readonly backendTable: ReadonlyMap<number, number>;
  /** Services-map entry index → ours? (parallel to snapshot.services). */
  readonly ourServiceEntry: Uint8Array;
  /** Entries of others (Cilium's own Services, mostly) in the maps kube-lb shares: they count against its budget. */
  readonly foreignEntries: { readonly services: number; readonly backends: number; readonly revNat: number };
}

/** lb4_key with dport 0 and proto 0 (the slot is checked by the caller). */
function isWildcardKey(keys: DataView, offset: number): boolean {
  return keys.getUint16(offset + LB4_KEY_OFFSETS.dport) === 0 && keys.getUint8(offset + LB4_KEY_OFFSETS.proto) === 0;
}

function serviceIdsOf(entries: PackedEntries | undefined, offset: number, into: (id: number) => void): void {
  if (!entries) return;
  const view = viewOf(entries.keys);
  for (let i = 0; i < entries.count; i++) into(getNet16(view, i * entries.keySize + offset));
}

/** IDs that change events showed another process writing under (see MapPlanner.contest). */
export interface ContestedIds {
  readonly serviceIds: ReadonlySet<number>;
  readonly backendIds: ReadonlySet<number>;
}

const NONE_CONTESTED: ContestedIds = { serviceIds: new Set(), backendIds: new Set() };

/** The entry identity (backendEntryKey) of a backend table key or an lb4_backend: both start address, port, proto. */
function backendIdentity(view: DataView, offset: number, protoMatters: boolean): number {
  return backendEntryKey(
    getNet32(view, offset),
    getNet16(view, offset + 4),
    protoMatters ? view.getUint8(offset + 6) : 0,
  );
}

export function classify(
  snapshot: MapsSnapshot,
  profile: Lb4Profile,
  contested: ContestedIds = NONE_CONTESTED,
): Ownership {
  const table = new Map<string, number>();
  const frontendOf = new Map<number, string>();
  const idView = viewOf(snapshot.idTable.values);
  for (let i = 0; i < snapshot.idTable.count; i++) {
    const size = snapshot.idTable.keySize;
    const fk = bytesKey(snapshot.idTable.keys, i * size, size);
    const id = getHost32(idView, i * 4);
    table.set(fk, id);
    frontendOf.set(id, fk);
  }
  const tableIds = new Set(table.values());

  const svc = snapshot.services;
  const kView = viewOf(svc.keys);
  const vView = viewOf(svc.values);
  const fks: string[] = new Array<string>(svc.count);
  const takenOver = new Set<string>();
  for (let i = 0; i < svc.count; i++) {
    const fk = frontendKeyOfServiceKey(svc.keys, i * svc.keySize);
    fks[i] = fk;
    if (getHost16(kView, i * svc.keySize + LB4_KEY_OFFSETS.backendSlot) !== 0) continue;
    const revNat = getNet16(vView, i * svc.valueSize + LB4_SERVICE_OFFSETS.revNatIndex);
    if (table.has(fk) && !tableIds.has(revNat)) takenOver.add(fk);
  }

  const foreignFrontends = new Set<string>();
  const foreignWildcards = new Set<number>();
  const foreignServiceIds = new Set<number>();
  const foreignBackendIds = new Set<number>();
  const ourServiceEntry = new Uint8Array(svc.count);
  const foreignEntries = { services: 0, backends: 0, revNat: 0 };
  for (let i = 0; i < svc.count; i++) {
    const fk = fks[i]!;
    const slot = getHost16(kView, i * svc.keySize + LB4_KEY_OFFSETS.backendSlot);
    const revNat = getNet16(vView, i * svc.valueSize + LB4_SERVICE_OFFSETS.revNatIndex);
    const backendId = getHost32(vView, i * svc.valueSize + LB4_SERVICE_OFFSETS.union);
    if (table.has(fk) && !takenOver.has(fk) && tableIds.has(revNat)) {
      ourServiceEntry[i] = 1;
    } else {
      foreignEntries.services++;
      foreignFrontends.add(fk);
      foreignServiceIds.add(revNat);
      if (slot !== 0) foreignBackendIds.add(backendId);
      else if (isWildcardKey(kView, i * svc.keySize))
        foreignWildcards.add(getNet32(kView, i * svc.keySize + LB4_KEY_OFFSETS.address));
    }
  }
  const noteForeignService = (id: number): void => {
    if (!tableIds.has(id)) foreignServiceIds.add(id);
  };
  for (const id of contested.serviceIds) foreignServiceIds.add(id);
  // revNAT values hold the frontend's address and port, as the first 6 bytes of our table's key do.
  const rn = snapshot.revNat;
  const rnKeys = viewOf(rn.keys);
  for (let i = 0; i < rn.count; i++) {
    const id = getNet16(rnKeys, i * rn.keySize);
    const fk = frontendOf.get(id);
    if (fk === undefined || bytesKey(rn.values, i * rn.valueSize, 6) !== fk.slice(0, 6)) {
      foreignServiceIds.add(id);
      foreignEntries.revNat++;
    }
  }
  serviceIdsOf(snapshot.sourceRange, 4, noteForeignService);
  serviceIdsOf(snapshot.affinityMatch, 4, noteForeignService);
  for (const id of snapshot.maglev?.keys() ?? []) noteForeignService(id);
  const ourServiceIds = new Set([...tableIds].filter((id) => !foreignServiceIds.has(id)));

  const protoMatters = profile.backendProto === 'l4';
  const bt = snapshot.backendIdTable;
  const btKeys = viewOf(bt.keys);
  const btVals = viewOf(bt.values);
  /** Backend ID → the backend identity our table records for it; and the table itself, identity → ID. */
  const recorded = new Map<number, number>();
  const backendTable = new Map<number, number>();
  for (let i = 0; i < bt.count; i++) {
    const id = getHost32(btVals, i * bt.valueSize);
    const key = backendIdentity(btKeys, i * bt.keySize, protoMatters);
    recorded.set(id, key);
    backendTable.set(key, id);
  }
  for (const id of contested.backendIds) foreignBackendIds.add(id);

  const be = snapshot.backends;
  const beKeys = viewOf(be.keys);
  const beVals = viewOf(be.values);
  const ourBackendIds = new Set<number>();
  const ourBackendsByKey = new IntMap(be.count);
  for (let i = 0; i < be.count; i++) {
    const id = getHost32(beKeys, i * be.keySize);
    const off = i * be.valueSize;
    const key = backendIdentity(beVals, off, protoMatters);
    const record = recorded.get(id);
    const ours =
      record !== undefined
        ? record === key
        : id ===
          hashedBackendId(
            getNet32(beVals, off),
            getNet16(beVals, off + 4),
            protoMatters ? beVals.getUint8(off + 6) : 0,
          );
    if (foreignBackendIds.has(id) || !ours) {
      foreignBackendIds.add(id);
      foreignEntries.backends++;
      continue;
    }
    ourBackendIds.add(id);
    const prev = ourBackendsByKey.get(key);
    if (prev === undefined || id > prev) ourBackendsByKey.set(key, id);
  }
  return {
    table,
    takenOver,
    foreignFrontends,
    foreignWildcards,
    ourServiceIds,
    foreignServiceIds,
    ourBackendIds,
    foreignBackendIds,
    ourBackendsByKey,
    backendTable,
    ourServiceEntry,
    foreignEntries,
  };
}
