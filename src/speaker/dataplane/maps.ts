// The one interface the reconciler sees the maps through, composed of small per-map interfaces. Three
// implementations: native (bpf(2) via the addon), fake (byte-keyed, behaves like the kernel) and faulty
// (fails at a set rate, for fault-injection tests).
import type { AddonWriteBacks, ConsumerPriority } from '../../native/map-watch.ts';
import { sameEntries, type PackedEntries } from '../../core/bpf/packed.ts';
import type { DriftMap } from '../../core/dataplane/drift.ts';
import type { MapsSnapshot, MaglevObserved } from '../../core/dataplane/ownership.ts';
import type { DesiredImage } from '../../core/dataplane/image.ts';

/** A map seen as packed bytes. Removing a key that is not there is not an error. */
export interface ByteMap {
  readonly name: string;
  /** The kernel's ID of the map, where there is a kernel map (change events name maps by it). */
  readonly kernelId?: number | undefined;
  /** A file descriptor of it, where there is a kernel map (the kernel write-back is loaded against it). */
  readonly kernelFd?: number | undefined;
  readonly keySize: number;
  readonly valueSize: number;
  /** The map's capacity, where known: the planner keeps kube-lb's entries within a budget of it. */
  readonly maxEntries?: number | undefined;
  dump(): PackedEntries;
  upsert(entries: PackedEntries): void;
  remove(keys: PackedEntries): void;
}

/**
 * Writes upserts in the order given, possibly after the call returns (on another thread, so the caller can plan
 * the next batch meanwhile). An upsert with a level (UPSERT_LEVELS in src/core/dataplane/planner.ts) waits only
 * for the earlier ones of a lower level; one without waits for all earlier ones. settle() waits until all are
 * written and throws the first failure; nothing that had not started when a write failed is written.
 */
export interface OrderedWriter {
  upsert(map: ByteMap, entries: PackedEntries, level?: number): void;
  settle(): void;
}

/** Writes each upsert before returning: the maps without a writer thread. */
export const IMMEDIATE_WRITER: OrderedWriter = {
  upsert: (map, entries) => map.upsert(entries),
  settle: () => undefined,
};

/** cilium_lb4_maglev: one inner lookup table per service ID. */
export interface MaglevMap {
  readonly name: string;
  /** The kernel's ID of the outer map, where there is a kernel map. */
  readonly kernelId?: number | undefined;
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
  /** kube-lb's own tables (id-table.ts): service IDs by frontend, backend IDs by backend. */
  readonly idTable: ByteMap;
  readonly backendIdTable: ByteMap;
  readonly sourceRange: ByteMap | undefined;
  readonly affinityMatch: ByteMap | undefined;
  readonly maglev: MaglevMap | undefined;
  /** How the reconciler's upserts reach the maps; IMMEDIATE_WRITER when absent. */
  readonly writer?: OrderedWriter | undefined;
  close(): void;
}

/**
 * A pinned map that is no longer the one held open: re-created or re-pinned (`pinned` is another map ID),
 * vanished (`pinned` undefined), or an optional map that appeared since the open (`held` undefined).
 */
export interface PinChange {
  readonly name: string;
  readonly path: string;
  readonly held: number | undefined;
  readonly pinned: number | undefined;
}

/**
 * Whether each pin behind a set of open maps still names the map held. Cilium unpins and re-creates a map when
 * its size or flags change (`--bpf-lb-map-max`, upgrades), and a remounted bpffs loses every pin: an fd held
 * from before then points at a map the datapath no longer reads.
 */
export interface PinIdentity {
  /** Empty when every pin is the map held. Cheap: one open and one info call per pin, no dump. */
  changes(): readonly PinChange[];
}

/**
 * Calls `onChange` soon after a pin in the maps' directory is created, removed or renamed, which is how Cilium
 * re-creates a map, and `onFailure` once if the events stop or cannot start; returns a function that stops them.
 * The pins are then compared at once (PinIdentity), instead of at the next periodic check.
 */
export type PinEvents = (onChange: () => void, onFailure: (reason: string) => void) => () => void;

/** Maps as opened from their pins, with the means to tell when the pins moved on. */
export interface PinnedLb4Maps {
  readonly maps: Lb4Maps;
  readonly pins: PinIdentity;
  /**
   * The maps (all but maglev) as the open read them right before it returned, where it read them: the pass that
   * re-opened plans on this rather than read the same entries again.
   */
  readonly read?: MapsSnapshot;
}

/** The maps of Lb4Maps that change events and drift repair name (the maglev outer map included). */
export type WatchedMap = DriftMap;

/** A change another process made to one of the maps followed: the key as written or deleted. */
export interface MapChange {
  readonly map: WatchedMap;
  readonly op: 'update' | 'delete' | 'batch';
  readonly key: Uint8Array;
  /** When the kernel made the change (CLOCK_MONOTONIC ns, as process.hrtime.bigint()), where known. */
  readonly ns?: bigint;
  /** A delete the write-back already undid, and by whom ('kernel' or 'addon'): nothing left to write. */
  readonly writtenBack?: 'kernel' | 'addon' | undefined;
}

/**
 * Events of changes that others make to the maps kube-lb writes (src/speaker/dataplane/change-feed.ts: a BPF
 * program on bpf(2) syscall exit). Lets the reconciler put a deleted entry back within milliseconds, and skip
 * re-reading maps that nobody else touched.
 */
export interface MapChangeFeed {
  /** Follows these maps from now on, instead of any before; throws when it cannot. */
  follow(maps: Lb4Maps): void;
  /**
   * Changes by others since follow(), plus any that could not be reported: unchanged means nobody wrote. Events
   * counted here are delivered to the listeners before it returns.
   */
  foreignChanges(): number;
  /** `lost`: some changes could not be reported (re-read the maps). */
  onChanges(listener: (changes: readonly MapChange[], lost: boolean) => void): () => void;
  /**
   * Where the feed has a kernel write-back: makes it hold exactly kube-lb's entries of this image (after a plan
   * is applied), or none.
   */
  mirror?(image: DesiredImage | undefined): void;
  /**
   * Where events are consumed on a thread of their own: its nice value (a prune's deleted entries go back as soon
   * as that thread runs), and why a higher priority was refused. undefined before follow().
   */
  consumerPriority?(): ConsumerPriority | undefined;
  /** Where the addon writes entries back itself: how many since the feed opened, and how late at most. */
  addonWriteBacks?(): AddonWriteBacks;
  close(): void;
}

export function describePinChange(c: PinChange): string {
  if (c.pinned === undefined) return `${c.name} vanished (held map ${c.held})`;
  if (c.held === undefined) return `${c.name} appeared (map ${c.pinned})`;
  return `${c.name} re-created (held map ${c.held}, pinned map ${c.pinned})`;
}

export function readSnapshot(maps: Lb4Maps): MapsSnapshot {
  return {
    services: maps.services.dump(),
    backends: maps.backends.dump(),
    revNat: maps.revNat.dump(),
    idTable: maps.idTable.dump(),
    backendIdTable: maps.backendIdTable.dump(),
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
  if (!same(a.idTable, b.idTable) || !same(a.backendIdTable, b.backendIdTable)) return false;
  if (!same(a.sourceRange, b.sourceRange) || !same(a.affinityMatch, b.affinityMatch)) return false;
  if (a.maglev === undefined || b.maglev === undefined) return a.maglev === b.maglev;
  if (a.maglev.size !== b.maglev.size) return false;
  for (const [id, x] of a.maglev) {
    const y = b.maglev.get(id);
    if (!y || y.innerId !== x.innerId || y.digest !== x.digest) return false;
  }
  return true;
}
