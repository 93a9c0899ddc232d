// The one interface the reconciler sees the maps through, composed of small per-map interfaces. Three
// implementations: native (bpf(2) via the addon), fake (byte-keyed, behaves like the kernel) and faulty
// (fails at a set rate, for fault-injection tests).
import { sameEntries, type PackedEntries } from '../../core/bpf/packed.ts';
import type { MapsSnapshot, MaglevObserved } from '../../core/dataplane/ownership.ts';

/** A map seen as packed bytes. Removing a key that is not there is not an error. */
export interface ByteMap {
  readonly name: string;
  readonly keySize: number;
  readonly valueSize: number;
  dump(): PackedEntries;
  upsert(entries: PackedEntries): void;
  remove(keys: PackedEntries): void;
}

/** cilium_lb4_maglev: one inner lookup table per service ID. */
export interface MaglevMap {
  readonly name: string;
  /** Entries per inner table (bpf-lb-maglev-table-size); undefined for a reader that found no table. */
  readonly tableSize: number | undefined;
  /** Every outer entry with its inner map ID and, where known or readable, the table's digest. */
  read(): Map<number, MaglevObserved>;
  /** Replaces (atomically, by swapping the inner map) the table of a service. */
  set(serviceId: number, table: Uint8Array, digest: string): void;
  remove(serviceIds: readonly number[]): void;
}

export interface Lb4Maps {
  readonly services: ByteMap;
  readonly backends: ByteMap;
  readonly revNat: ByteMap;
  /** kube-lb's own ID table. */
  readonly idTable: ByteMap;
  readonly sourceRange: ByteMap | undefined;
  readonly affinityMatch: ByteMap | undefined;
  readonly maglev: MaglevMap | undefined;
  close(): void;
}

export function readSnapshot(maps: Lb4Maps): MapsSnapshot {
  return {
    services: maps.services.dump(),
    backends: maps.backends.dump(),
    revNat: maps.revNat.dump(),
    idTable: maps.idTable.dump(),
    sourceRange: maps.sourceRange?.dump(),
    affinityMatch: maps.affinityMatch?.dump(),
    maglev: maps.maglev?.read(),
  };
}

/** Whether two snapshots hold exactly the same bytes (in the same order) and the same maglev inner maps. */
export function sameSnapshot(a: MapsSnapshot, b: MapsSnapshot): boolean {
  const same = (x: PackedEntries | undefined, y: PackedEntries | undefined): boolean =>
    x === undefined || y === undefined ? x === y : sameEntries(x, y);
  if (!same(a.services, b.services) || !same(a.backends, b.backends) || !same(a.revNat, b.revNat)) return false;
  if (!same(a.idTable, b.idTable) || !same(a.sourceRange, b.sourceRange) || !same(a.affinityMatch, b.affinityMatch)) {
    return false;
  }
  if (a.maglev === undefined || b.maglev === undefined) return a.maglev === b.maglev;
  if (a.maglev.size !== b.maglev.size) return false;
  for (const [id, x] of a.maglev) {
    const y = b.maglev.get(id);
    if (!y || y.innerId !== x.innerId || y.digest !== x.digest) return false;
  }
  return true;
}
