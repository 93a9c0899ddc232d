// Opens Cilium's pinned lb4 maps (and kube-lb's ID table beside them) through the addon, after checking that
// every map has exactly the shape kube-lb's codecs are written for and deciding the Cilium version profile.
// Anything unexpected is refused before a single byte is written.
import { watch } from 'node:fs';
import { join } from 'node:path';
import type { PackedEntries } from '../../core/bpf/packed.ts';
import { BPF_ANY, BPF_MAP_TYPE } from '../../core/bpf/uapi.ts';
import { detectCiliumVersion, type Detection } from '../../core/dataplane/detect.ts';
import { BACKEND_ID_TABLE_SHAPE, ID_TABLE_SHAPE } from '../../core/dataplane/id-table.ts';
import { tableDigest } from '../../core/dataplane/maglev-digest.ts';
import { classify, type MaglevObserved, type MapsSnapshot } from '../../core/dataplane/ownership.ts';
import { getHost32, getNet16, putHost32, putNet16, viewOf } from '../../core/lb4/bytes.ts';
import { MAGLEV_INNER_KEY_SIZE, maglevInnerValueSize } from '../../core/lb4/maglev.ts';
import { DEFAULT_MAP_DIR, LB4_MAPS, shapeMismatch, type Lb4MapShape } from '../../core/lb4/maps.ts';
import { CILIUM_VERSIONS, profileFor, type CiliumVersion, type Lb4Profile } from '../../core/lb4/profile.ts';
import type { CiliumDatapathConfig } from '../../core/cilium/config.ts';
import { BpfError, BpfMap, settleQueuedWrites, type MapSpec } from '../../native/bpf.ts';
import { DataplaneMapError } from './errors.ts';
import {
  readSnapshot,
  type ByteMap,
  type Lb4Maps,
  type MaglevMap,
  type OrderedWriter,
  type PinChange,
  type PinEvents,
  type PinIdentity,
} from './maps.ts';
import { invariant } from '../../shared/errors.ts';

/** What this module uses of an open map (src/native/bpf.ts BpfMap). */
export type BpfMapHandle = Pick<
  BpfMap,
  'path' | 'info' | 'fd' | 'pin' | 'close' | 'lookup' | 'update' | 'dump' | 'updateMany' | 'deleteMany'
> &
  Partial<Pick<BpfMap, 'queueUpdateMany'>>;

/** How this module reaches bpf(2): the addon in production, a recording fake in unit tests. */
export interface BpfPort {
  open(path: string, options: { readOnly?: boolean }): BpfMapHandle;
  create(spec: MapSpec): BpfMapHandle;
  fromId(id: number, label?: string): BpfMapHandle;
  /** The ID of the map pinned at `path` now; undefined when nothing is pinned there. */
  pinnedId(path: string): number | undefined;
}

export const NATIVE_BPF: BpfPort = {
  open: (path, options) => BpfMap.open(path, options),
  create: (spec) => BpfMap.create(spec),
  fromId: (id, label) => BpfMap.fromId(id, label),
  pinnedId: (path) => BpfMap.pinnedId(path),
};

export class NativeByteMap implements ByteMap {
  readonly name: string;
  readonly map: BpfMapHandle;

  constructor(name: string, map: BpfMapHandle) {
    this.name = name;
    this.map = map;
  }
  get kernelId(): number {
    return this.map.info.id;
  }
  get kernelFd(): number {
    return this.map.fd;
  }
  get keySize(): number {
    return this.map.info.keySize;
  }
  get valueSize(): number {
    return this.map.info.valueSize;
  }
  get maxEntries(): number {
    return this.map.info.maxEntries;
  }
  dump(): PackedEntries {
    return this.map.dump();
  }
  upsert(e: PackedEntries): void {
    this.map.updateMany(e.keys, e.values, e.count);
  }
  remove(keys: PackedEntries): void {
    this.map.deleteMany(keys.keys, keys.count);
  }
  /** Hands the entries to the process's writer thread (immediate for a handle without one). */
  queueUpsert(e: PackedEntries, level?: number): void {
    if (this.map.queueUpdateMany) this.map.queueUpdateMany(e.keys, e.values, e.count, BPF_ANY, level);
    else this.upsert(e);
  }
}

/** The addon's writer thread (native/src/write_behind.c): kube-lb's own maps and Cilium's alike. */
const QUEUED_WRITER: OrderedWriter = {
  upsert: (map, entries, level) =>
    map instanceof NativeByteMap ? map.queueUpsert(entries, level) : map.upsert(entries),
  settle: settleQueuedWrites,
};

const INNER_KEY = new Uint8Array(MAGLEV_INNER_KEY_SIZE);
/** Kernel name of the inner maps kube-lb creates, so bpftool shows whose they are. */
const INNER_NAME = 'kube_lb_maglev';

export class NativeMaglevMap implements MaglevMap {
  readonly name: string;
  readonly tableSize: number | undefined;
  readonly #outer: BpfMapHandle;
  readonly #bpf: BpfPort;
  /** Inner map ID → digest of its table: read once per inner map, or known because we wrote it. */
  readonly #digests = new Map<number, string>();

  constructor(outer: BpfMapHandle, tableSize: number | undefined, bpf: BpfPort = NATIVE_BPF) {
    this.name = outer.path;
    this.#outer = outer;
    this.#bpf = bpf;
    this.tableSize = tableSize;
  }

  get kernelId(): number {
    return this.#outer.info.id;
  }

  read(): Map<number, MaglevObserved> {
    const d = this.#outer.dump();
    const kv = viewOf(d.keys);
    const vv = viewOf(d.values);
    const out = new Map<number, MaglevObserved>();
    for (let i = 0; i < d.count; i++) {
      const innerId = getHost32(vv, i * d.valueSize);
      out.set(getNet16(kv, i * d.keySize), { innerId, digest: this.#digestOf(innerId) });
    }
    const live = new Set([...out.values()].map((o) => o.innerId));
    for (const id of this.#digests.keys()) if (!live.has(id)) this.#digests.delete(id);
    return out;
  }

  #digestOf(innerId: number): string | undefined {
    const known = this.#digests.get(innerId);
    if (known !== undefined) return known;
    let inner: BpfMapHandle | undefined;
    try {
      inner = this.#bpf.fromId(innerId, `${this.name} inner map ${innerId}`);
      const bytes = inner.lookup(INNER_KEY);
      if (!bytes) return undefined;
      const digest = tableDigest(bytes);
      this.#digests.set(innerId, digest);
      return digest;
    } catch (err) {
      // Replaced between the dump and the open: the next read sees the new one.
      if (err instanceof BpfError && err.errno === 'ENOENT') return undefined;
      throw err;
    } finally {
      inner?.close();
    }
  }

  set(serviceId: number, table: Uint8Array, digest: string): void {
    if (this.tableSize === undefined)
      throw new DataplaneMapError(
        'DATAPLANE_MAGLEV_TABLE_SIZE',
        this.name,
        'maglev table size unknown (read-only open)',
      );
    const inner = this.#bpf.create({
      type: BPF_MAP_TYPE.ARRAY,
      keySize: MAGLEV_INNER_KEY_SIZE,
      valueSize: maglevInnerValueSize(this.tableSize),
      maxEntries: 1,
      flags: 0,
      name: INNER_NAME,
    });
    try {
      inner.update(INNER_KEY, table);
      const key = new Uint8Array(2);
      putNet16(viewOf(key), 0, serviceId);
      const value = new Uint8Array(4);
      putHost32(viewOf(value), 0, inner.fd);
      // One update swaps the whole table: the datapath sees the old or the new one, never a mix.
      this.#outer.update(key, value);
      this.#digests.set(inner.info.id, digest);
    } finally {
      inner.close();
    }
  }

  remove(serviceIds: readonly number[]): void {
    const keys = new Uint8Array(serviceIds.length * 2);
    const view = viewOf(keys);
    serviceIds.forEach((id, i) => {
      putNet16(view, i * 2, id);
    });
    this.#outer.deleteMany(keys, serviceIds.length);
  }

  close(): void {
    this.#outer.close();
  }
}

export interface OpenLb4MapsOptions {
  /** Directory of Cilium's pinned maps. Default /sys/fs/bpf/tc/globals. */
  readonly dir?: string;
  /** "auto" or a Cilium version ("1.16", "v1.18.3"). */
  readonly ciliumVersion: string;
  /**
   * Cilium's bpf-lb-maglev-table-size, from its configuration (a writer passes it). Without it the size is read
   * from an existing inner table, if any; an existing table of another size is refused.
   */
  readonly maglevTableSize?: number;
  /**
   * Parses the node's Cilium configuration once the line is decided (the speaker: its config directory). Its
   * maglev table size is the one a writer uses unless `maglevTableSize` is given.
   */
  readonly cilium?: (line: CiliumVersion) => CiliumDatapathConfig;
  /** Cilium's bpf-lb-proto-diff from its configuration, for the version detection (default true). */
  readonly protoDiff?: boolean;
  /** Open read-only and never create kube-lb's ID table (the CLI). */
  readonly readOnly?: boolean;
  /**
   * With "auto" and no decisive evidence, use the newest version the evidence allows instead of refusing.
   * Only for reading: a wrong guess would misprint a field, never write one.
   */
  readonly guessVersion?: boolean;
}

export interface OpenedLb4Maps {
  readonly maps: Lb4Maps;
  /** Whether each pin still names the map opened (see PinIdentity). */
  readonly pins: PinIdentity;
  readonly profile: Lb4Profile;
  readonly detection: Detection;
  readonly dir: string;
  /**
   * Every map but maglev as read to choose the profile, right before the open returned: a pass that follows at
   * once may plan on it rather than read the same entries again (220,000 of them at 10k services).
   */
  readonly read: MapsSnapshot;
  /** What `options.cilium` returned for the line. */
  readonly cilium?: CiliumDatapathConfig;
}

type IdTableShape = typeof ID_TABLE_SHAPE | typeof BACKEND_ID_TABLE_SHAPE;

function openShaped(
  bpf: BpfPort,
  dir: string,
  shape: Lb4MapShape | IdTableShape,
  readOnly: boolean,
): BpfMapHandle | undefined {
  const path = join(dir, shape.name);
  let map: BpfMapHandle;
  try {
    map = bpf.open(path, { readOnly });
  } catch (err) {
    if (err instanceof BpfError && err.errno === 'ENOENT') return undefined;
    throw err;
  }
  const problem = shapeMismatch({ ...shape, role: 'services', optional: false }, map.info);
  if (problem) {
    map.close();
    throw new DataplaneMapError('DATAPLANE_MAP_SHAPE', path, `${shape.name} is not shaped as expected`, [problem]);
  }
  return map;
}

/** One of kube-lb's own tables, created and pinned when missing (unless read-only). */
function openIdTable(bpf: BpfPort, dir: string, shape: IdTableShape, readOnly: boolean): BpfMapHandle | undefined {
  const existing = openShaped(bpf, dir, shape, readOnly);
  if (existing || readOnly) return existing;
  const created = bpf.create({ ...shape });
  try {
    created.pin(join(dir, shape.name));
  } catch (err) {
    created.close();
    // Another process pinned it first: use theirs.
    if (err instanceof BpfError && err.errno === 'EEXIST') return openShaped(bpf, dir, shape, readOnly);
    throw err;
  }
  return created;
}

/**
 * The maglev table size of the inner maps in the outer map, read from the first inner map that still exists
 * (its value size / 4), or undefined when there is none. Nothing is ever written to find out: Cilium's
 * configuration says the size (the writer passes it), and a reader of an empty maglev map has no table to read.
 */
function maglevTableSizeOf(
  bpf: BpfPort,
  outer: BpfMapHandle,
  dir: string,
  configured: number | undefined,
): number | undefined {
  const path = join(dir, LB4_MAPS.maglev.name);
  const d = outer.dump();
  for (let i = 0; i < d.count; i++) {
    let inner: BpfMapHandle | undefined;
    try {
      inner = bpf.fromId(getHost32(viewOf(d.values), i * d.valueSize));
      const size = inner.info.valueSize / 4;
      if (configured !== undefined && configured !== size) {
        throw new DataplaneMapError(
          'DATAPLANE_MAGLEV_TABLE_SIZE',
          path,
          `Cilium's configured maglev table size ${configured} differs from the tables in the map (${size}); has the agent been restarted since bpf-lb-maglev-table-size changed?`,
        );
      }
      return size;
    } catch (err) {
      if (err instanceof BpfError && err.errno === 'ENOENT') continue;
      throw err;
    } finally {
      inner?.close();
    }
  }
  return configured;
}

/**
 * Pin events for the maps in `dir`, from inotify: bpffs reports a pin, an unpin and a rename as any file system
 * does, within a millisecond. A map Cilium re-creates is so found as it is pinned, rather than up to a pin-check
 * period (100 ms) later, while Cilium's new datapath may already read it.
 */
export function watchPinDirectory(dir: string): PinEvents {
  return (onChange, onFailure) => {
    let watcher: ReturnType<typeof watch>;
    try {
      watcher = watch(dir, { persistent: false }, () => onChange());
    } catch (err) {
      onFailure(`${dir} cannot be watched: ${(err as Error).message}`);
      return () => {};
    }
    watcher.on('error', (err) => {
      watcher.close();
      onFailure(`watching ${dir}: ${err.message}`);
    });
    return () => watcher.close();
  };
}

/** Opens every map, checks shapes, decides the profile. Closes what it opened if it refuses. */
export function openLb4Maps(options: OpenLb4MapsOptions, bpf: BpfPort = NATIVE_BPF): OpenedLb4Maps {
  const dir = options.dir ?? DEFAULT_MAP_DIR;
  const readOnly = options.readOnly ?? false;
  const opened: BpfMapHandle[] = [];
  /** Every pin looked at, with the ID of the map opened from it (undefined: there was none). */
  const held: { name: string; path: string; id: number | undefined }[] = [];
  const open = (shape: Lb4MapShape): BpfMapHandle | undefined => {
    const m = openShaped(bpf, dir, shape, readOnly);
    held.push({ name: shape.name, path: join(dir, shape.name), id: m?.info.id });
    if (m) opened.push(m);
    else if (!shape.optional) {
      throw new DataplaneMapError(
        'DATAPLANE_MAP_MISSING',
        join(dir, shape.name),
        `${shape.name} does not exist; is Cilium running with kube-proxy replacement on this node?`,
      );
    }
    return m;
  };
  try {
    const services = open(LB4_MAPS.services)!;
    const backends = open(LB4_MAPS.backends)!;
    const revNat = open(LB4_MAPS.revNat)!;
    const sourceRange = open(LB4_MAPS.sourceRange);
    const affinityMatch = open(LB4_MAPS.affinityMatch);
    const maglevOuter = open(LB4_MAPS.maglev);
    const byte = (m: BpfMapHandle): NativeByteMap => new NativeByteMap(m.path, m);
    const own = (shape: IdTableShape): ByteMap => {
      const m = openIdTable(bpf, dir, shape, readOnly);
      held.push({ name: shape.name, path: join(dir, shape.name), id: m?.info.id });
      if (!m) return emptyIdTable(shape);
      opened.push(m);
      return byte(m);
    };
    const idTable = own(ID_TABLE_SHAPE);
    const backendIdTable = own(BACKEND_ID_TABLE_SHAPE);
    const base: Omit<Lb4Maps, 'maglev'> = {
      services: byte(services),
      backends: byte(backends),
      revNat: byte(revNat),
      idTable,
      backendIdTable,
      sourceRange: sourceRange ? byte(sourceRange) : undefined,
      affinityMatch: affinityMatch ? byte(affinityMatch) : undefined,
      writer: QUEUED_WRITER,
      close: () => {
        settleQueuedWrites();
        for (const m of opened) m.close();
      },
    };
    const read = readSnapshot({ ...base, maglev: undefined });
    const { profile, detection } = chooseProfile(read, options, join(dir, LB4_MAPS.services.name));
    // The configuration is the line's: known only now. It says the maglev table size a writer must use.
    const cilium = options.cilium?.(profile.version);
    const tableSize = options.maglevTableSize ?? cilium?.maglev.tableSize;
    const maglev = maglevOuter
      ? new NativeMaglevMap(maglevOuter, maglevTableSizeOf(bpf, maglevOuter, dir, tableSize), bpf)
      : undefined;
    const pins: PinIdentity = {
      changes: () =>
        held.flatMap((h): PinChange[] => {
          const pinned = bpf.pinnedId(h.path);
          return pinned === h.id ? [] : [{ name: h.name, path: h.path, held: h.id, pinned }];
        }),
    };
    return { maps: { ...base, maglev }, pins, profile, detection, dir, read, ...(cilium ? { cilium } : {}) };
  } catch (err) {
    for (const m of opened) m.close();
    throw err;
  }
}

/** An ID table of a read-only open where kube-lb never ran: empty. */
function emptyIdTable(shape: IdTableShape): ByteMap {
  const empty: PackedEntries = {
    count: 0,
    keySize: 8,
    valueSize: 4,
    keys: new Uint8Array(0),
    values: new Uint8Array(0),
  };
  return {
    name: shape.name,
    keySize: 8,
    valueSize: 4,
    dump: () => empty,
    // Read-only opens never reach the writer (the reconciler refuses to write with them).
    upsert: () => invariant(false, `${shape.name}: upsert on a read-only open`),
    remove: () => invariant(false, `${shape.name}: remove on a read-only open`),
  };
}

function chooseProfile(
  snapshot: MapsSnapshot,
  options: OpenLb4MapsOptions,
  path: string,
): { profile: Lb4Profile; detection: Detection } {
  const configured = options.ciliumVersion;
  // Evidence comes from Cilium's entries only; profile-independent parts of the ownership suffice here.
  const own = classify(snapshot, profileFor('1.18'));
  const detection = detectCiliumVersion({
    services: snapshot.services,
    backends: snapshot.backends,
    ourServiceEntry: own.ourServiceEntry,
    ourBackendIds: own.ourBackendIds,
    ...(options.protoDiff === undefined ? {} : { protoDiff: options.protoDiff }),
  });
  if (configured === 'auto') {
    if (!detection.profile && options.guessVersion) {
      const guess =
        detection.candidates[detection.candidates.length - 1] ?? CILIUM_VERSIONS[CILIUM_VERSIONS.length - 1]!;
      return {
        profile: profileFor(guess),
        detection: { ...detection, reasons: [...detection.reasons, `guessed ${guess} (reading only)`] },
      };
    }
    if (!detection.profile) {
      throw new DataplaneMapError(
        'DATAPLANE_VERSION_UNKNOWN',
        path,
        `cannot tell the Cilium version from the maps (candidates: ${detection.candidates.join(', ') || 'none'}); set it explicitly`,
        detection.reasons,
      );
    }
    return { profile: detection.profile, detection };
  }
  const profile = profileFor(configured);
  if (!detection.candidates.includes(profile.version)) {
    throw new DataplaneMapError(
      'DATAPLANE_VERSION_MISMATCH',
      path,
      `configured Cilium ${profile.version} contradicts what the agent wrote (fits ${detection.candidates.join(', ') || 'nothing'})`,
      detection.reasons,
    );
  }
  return { profile, detection };
}
