// Repair in proportion to what was lost. After a successful pass kube-lb's entries in the maps are exactly the
// planner's desired image; when some of them are later deleted (Cilium's prune, an agent restart) they can be
// written back from that image without planning again, in the planner's make-before-break order. Anything else
// (one of ours holding other bytes, a foreign entry added or changed) can move ownership or IDs, and goes to the
// full planner instead.
import { bytesEqual, pickEntries, type EntryTable, type PackedEntries } from '../bpf/packed.ts';
import { getHost32, getNet16, viewOf } from '../lb4/bytes.ts';
import type { DesiredImage } from './image.ts';
import type { MapsSnapshot } from './ownership.ts';
import type { MaglevTableWrite, MapName, MapOp, Step } from './planner.ts';
import { assertNever } from '../../shared/errors.ts';

/** A map kube-lb writes, as the repair names it (the maglev outer map included). */
export type DriftMap = MapName | 'maglev';

/** One of kube-lb's entries found deleted: the map and the key's bytes (a maglev key is the service ID, u16 BE). */
export interface LostEntry {
  readonly map: DriftMap;
  readonly key: Uint8Array;
}

export interface Restore {
  readonly ops: readonly MapOp[];
  /** Entries written back. */
  readonly restored: number;
  /** Lost keys that are not kube-lb's (nothing to restore). */
  readonly notOurs: number;
}

const SERVICE_SLOT_OFFSET = 6;

function isMasterKey(key: Uint8Array, off: number): boolean {
  return key[off + SERVICE_SLOT_OFFSET] === 0 && key[off + SERVICE_SLOT_OFFSET + 1] === 0;
}

/**
 * The writes that put lost entries back as the image has them, in the planner's order: ID records, backends,
 * affinity-match, source ranges, slots, maglev tables, revNAT, and masters last, so a master never points at
 * something missing.
 */
export function restoreOps(image: DesiredImage, lost: readonly LostEntry[]): Restore {
  const wanted = new Map<DriftMap, Set<number>>();
  let notOurs = 0;
  for (const l of lost) {
    const index = l.map === 'maglev' ? maglevIndex(image, l.key) : indexOfKey(image[l.map], l.key);
    if (index === undefined) {
      notOurs++;
      continue;
    }
    let set = wanted.get(l.map);
    if (!set) wanted.set(l.map, (set = new Set()));
    set.add(index);
  }
  const ops: MapOp[] = [];
  let restored = 0;
  const upsert = (step: Step, map: MapName, pick: (i: number) => boolean = () => true): void => {
    const indexes = [...(wanted.get(map) ?? [])].filter(pick).sort((a, b) => a - b);
    if (indexes.length === 0) return;
    ops.push({
      kind: 'upsert',
      step,
      map,
      entries: pickEntries(image[map], indexes),
      absent: indexes.length,
      changed: 0,
    });
    restored += indexes.length;
  };
  const master = (i: number): boolean => isMasterKey(image.services.keys, i * image.services.keySize);
  upsert('ids', 'idTable');
  upsert('ids', 'backendIdTable');
  upsert('backends', 'backends');
  upsert('affinity-match', 'affinityMatch');
  upsert('source-ranges', 'sourceRange');
  upsert('slots', 'services', (i) => !master(i));
  const serviceIds = [...(wanted.get('maglev') ?? [])].sort((a, b) => a - b);
  if (serviceIds.length > 0) {
    const tables: MaglevTableWrite[] = serviceIds.map((serviceId) => {
      const want = image.maglev.get(serviceId)!;
      return { serviceId, bytes: want.bytes, digest: want.digest };
    });
    ops.push({ kind: 'maglev-set', step: 'maglev', tables, absent: tables.length, changed: 0 });
    restored += tables.length;
  }
  upsert('rev-nat', 'revNat');
  upsert('masters', 'services', master);
  return { ops, restored, notOurs };
}

/**
 * The IDs a key of `map` is filed under: when another process writes a new value under one of kube-lb's keys
 * there, it uses that ID for itself (Cilium's allocator reached it), and kube-lb must move off it.
 * Services and kube-lb's own tables are keyed by frontend or backend address, not by ID: nothing.
 */
export function idsOfKey(map: DriftMap, key: Uint8Array): { serviceIds: number[]; backendIds: number[] } {
  const view = viewOf(key);
  const u16be = (o: number): number => getNet16(view, o);
  const u32 = (o: number): number => getHost32(view, o);
  switch (map) {
    case 'backends':
      return { serviceIds: [], backendIds: key.length >= 4 ? [u32(0)] : [] };
    case 'revNat':
    case 'maglev':
      return { serviceIds: key.length >= 2 ? [u16be(0)] : [], backendIds: [] };
    case 'sourceRange':
      return { serviceIds: key.length >= 6 ? [u16be(4)] : [], backendIds: [] };
    case 'affinityMatch':
      return { serviceIds: key.length >= 6 ? [u16be(4)] : [], backendIds: key.length >= 4 ? [u32(0)] : [] };
    case 'services':
    case 'idTable':
    case 'backendIdTable':
      return { serviceIds: [], backendIds: [] };
    default:
      return assertNever(map, 'map');
  }
}

/** Whether `key` in `map` is one of kube-lb's entries in the image. */
export function ownsKey(image: DesiredImage, map: DriftMap, key: Uint8Array): boolean {
  return map === 'maglev' ? maglevIndex(image, key) !== undefined : indexOfKey(image[map], key) !== undefined;
}

/** The index of the image entry whose key is `key` (a whole key: one of another size is no entry of it). */
function indexOfKey(table: EntryTable, key: Uint8Array): number | undefined {
  return key.length === table.keySize ? table.index.get(key, 0) : undefined;
}

/** The service ID of a maglev key, when the image has a table for it (the ID stands in for an index). */
function maglevIndex(image: DesiredImage, key: Uint8Array): number | undefined {
  if (key.length < 2) return undefined;
  const id = (key[0]! << 8) | key[1]!;
  return image.maglev.has(id) ? id : undefined;
}

/** A cheap, order-independent fingerprint of the entries that are not kube-lb's, per map. */
export type ForeignPrint = ReadonlyMap<DriftMap, string>;

export interface Drift {
  /** Entries of ours missing from the maps. */
  readonly lost: readonly LostEntry[];
  /** Entries of ours holding other bytes (or a maglev table replaced). */
  readonly changed: number;
  /** Maps whose foreign entries differ from `print` (added, changed or removed). */
  readonly foreignChanged: readonly DriftMap[];
  /** The foreign fingerprint of `snapshot`, to compare the next one against. */
  readonly print: ForeignPrint;
}

const DRIFT_MAPS: readonly Exclude<MapName, never>[] = [
  'idTable',
  'backendIdTable',
  'backends',
  'services',
  'revNat',
  'sourceRange',
  'affinityMatch',
];

/**
 * Compares a snapshot with the image key by key (not by dump order, which a delete and re-insert changes):
 * what of ours is missing or different, and whether the foreign entries changed since `print` (undefined: take
 * this snapshot's as the reference, nothing foreign counts as changed).
 */
export function findDrift(image: DesiredImage, snapshot: MapsSnapshot, print: ForeignPrint | undefined): Drift {
  const lost: LostEntry[] = [];
  let changed = 0;
  const foreignChanged: DriftMap[] = [];
  const next = new Map<DriftMap, string>();
  for (const map of DRIFT_MAPS) {
    const current: PackedEntries | undefined = snapshot[map];
    if (!current) continue;
    const want = image[map];
    const index = want.index;
    const seen = new Uint8Array(want.count);
    const fp = new Fingerprint();
    const { keySize, valueSize } = current;
    for (let i = 0; i < current.count; i++) {
      const w = keySize === want.keySize ? index.get(current.keys, i * keySize) : undefined;
      if (w === undefined) {
        fp.add(current.keys, i * keySize, keySize, current.values, i * valueSize, valueSize);
        continue;
      }
      seen[w] = 1;
      if (!bytesEqual(current.values, i * valueSize, want.values, w * want.valueSize, valueSize)) changed++;
    }
    for (let w = 0; w < want.count; w++) if (!seen[w]) lost.push({ map, key: want.keyAt(w).slice() });
    const digest = fp.digest();
    next.set(map, digest);
    if (print && print.get(map) !== digest) foreignChanged.push(map);
  }
  if (snapshot.maglev) {
    const fp = new Fingerprint();
    const idBytes = new Uint8Array(6);
    for (const [serviceId, observed] of snapshot.maglev) {
      const want = image.maglev.get(serviceId);
      if (!want) {
        new DataView(idBytes.buffer).setUint16(0, serviceId);
        new DataView(idBytes.buffer).setUint32(2, observed.innerId);
        fp.add(idBytes, 0, 6, idBytes, 0, 0);
      } else if (observed.digest !== want.digest) {
        changed++;
      }
    }
    for (const serviceId of image.maglev.keys()) {
      if (!snapshot.maglev.has(serviceId))
        lost.push({ map: 'maglev', key: Uint8Array.of(serviceId >>> 8, serviceId & 0xff) });
    }
    const digest = fp.digest();
    next.set('maglev', digest);
    if (print && print.get('maglev') !== digest) foreignChanged.push('maglev');
  }
  return { lost, changed, foreignChanged, print: next };
}

/**
 * Order-independent: the count and two sums of per-entry FNV-1a hashes (different seeds), so the same entries in
 * any dump order give the same digest, and a change to any byte of any entry changes it.
 */
class Fingerprint {
  #count = 0;
  #a = 0;
  #b = 0;

  add(keys: Uint8Array, ko: number, kl: number, values: Uint8Array, vo: number, vl: number): void {
    let a = 0x811c9dc5;
    let b = 0x9747b28c;
    for (let i = 0; i < kl; i++) {
      a = Math.imul(a ^ keys[ko + i]!, 0x01000193);
      b = Math.imul(b ^ keys[ko + i]!, 0x01000193);
    }
    for (let i = 0; i < vl; i++) {
      a = Math.imul(a ^ values[vo + i]!, 0x01000193);
      b = Math.imul(b ^ values[vo + i]!, 0x01000193);
    }
    this.#count++;
    this.#a = (this.#a + (a >>> 0)) % 0x100000000;
    this.#b = (this.#b ^ Math.imul(b >>> 0, 0x9e3779b1)) >>> 0;
  }

  digest(): string {
    return `${this.#count}:${this.#a.toString(16)}:${this.#b.toString(16)}`;
  }
}
