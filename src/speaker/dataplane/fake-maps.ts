// In-memory maps keyed by their encoded bytes, behaving like the kernel where it matters: fixed key/value
// sizes, max_entries (E2BIG when full), deletes of missing keys are no-ops, maglev inner maps get fresh IDs.
import { bytesKey, writeBytesKey, type PackedEntries } from '../../core/bpf/packed.ts';
import type { MaglevObserved } from '../../core/dataplane/ownership.ts';
import { KubeLbError } from '../../shared/errors.ts';
import { DataplaneMapError } from './errors.ts';
import { BACKEND_ID_TABLE_SHAPE, ID_TABLE_SHAPE } from '../../core/dataplane/id-table.ts';
import {
  readSnapshot,
  type ByteMap,
  type Lb4Maps,
  type MaglevMap,
  type PinChange,
  type PinnedLb4Maps,
} from './maps.ts';

export class FakeByteMap implements ByteMap {
  readonly name: string;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  /** The kernel's map ID, as a FakeBpffs hands them out (0 outside one). */
  readonly id: number;
  readonly entries = new Map<string, Uint8Array>();
  /** How many times the map was dumped (read whole). */
  dumps = 0;

  constructor(name: string, keySize: number, valueSize: number, maxEntries = 65536, id = 0) {
    this.name = name;
    this.keySize = keySize;
    this.valueSize = valueSize;
    this.maxEntries = maxEntries;
    this.id = id;
  }

  dump(): PackedEntries {
    this.dumps++;
    const count = this.entries.size;
    const keys = new Uint8Array(count * this.keySize);
    const values = new Uint8Array(count * this.valueSize);
    let i = 0;
    for (const [k, v] of this.entries) {
      writeBytesKey(k, keys, i * this.keySize);
      values.set(v, i * this.valueSize);
      i++;
    }
    return { count, keySize: this.keySize, valueSize: this.valueSize, keys, values };
  }

  upsert(e: PackedEntries): void {
    for (let i = 0; i < e.count; i++) {
      this.set(
        e.keys.subarray(i * this.keySize, (i + 1) * this.keySize),
        e.values.subarray(i * this.valueSize, (i + 1) * this.valueSize),
      );
    }
  }

  remove(keys: PackedEntries): void {
    for (let i = 0; i < keys.count; i++) this.entries.delete(bytesKey(keys.keys, i * this.keySize, this.keySize));
  }

  set(key: Uint8Array, value: Uint8Array): void {
    if (key.length !== this.keySize || value.length !== this.valueSize) {
      throw new KubeLbError('FAKE_MAP_SIZE', `${this.name}: wrong key or value size`);
    }
    const k = bytesKey(key, 0, key.length);
    if (!this.entries.has(k) && this.entries.size >= this.maxEntries) {
      throw new KubeLbError('BPF_SYSCALL_FAILED', `${this.name}: E2BIG`, { transient: true });
    }
    this.entries.set(k, Uint8Array.from(value));
  }

  get(key: Uint8Array): Uint8Array | undefined {
    return this.entries.get(bytesKey(key, 0, key.length));
  }

  delete(key: Uint8Array): boolean {
    return this.entries.delete(bytesKey(key, 0, key.length));
  }
}

export class FakeMaglevMap implements MaglevMap {
  readonly name = 'cilium_lb4_maglev';
  readonly tableSize: number;
  readonly id: number;
  readonly tables = new Map<number, { innerId: number; bytes: Uint8Array; digest: string }>();
  #nextInnerId = 1000;

  constructor(tableSize: number, id = 0) {
    this.tableSize = tableSize;
    this.id = id;
  }

  read(): Map<number, MaglevObserved> {
    return new Map([...this.tables].map(([id, t]) => [id, { innerId: t.innerId, digest: t.digest }]));
  }

  set(serviceId: number, table: Uint8Array, digest: string): void {
    if (table.length !== this.tableSize * 4) throw new KubeLbError('FAKE_MAP_SIZE', `${this.name}: wrong table size`);
    this.tables.set(serviceId, { innerId: this.#nextInnerId++, bytes: Uint8Array.from(table), digest });
  }

  remove(serviceIds: readonly number[]): void {
    for (const id of serviceIds) this.tables.delete(id);
  }
}

export interface FakeLb4Maps extends Lb4Maps {
  readonly services: FakeByteMap;
  readonly backends: FakeByteMap;
  readonly revNat: FakeByteMap;
  readonly idTable: FakeByteMap;
  readonly backendIdTable: FakeByteMap;
  readonly sourceRange: FakeByteMap | undefined;
  readonly affinityMatch: FakeByteMap | undefined;
  readonly maglev: FakeMaglevMap | undefined;
}

export interface FakeMapsOptions {
  maglevTableSize?: number;
  sourceRange?: boolean;
  affinityMatch?: boolean;
  maxEntries?: number;
}

/** Name, key size and value size of each byte map, as Cilium (and kube-lb, for its ID table) pins them. */
const BYTE_MAPS = {
  services: ['cilium_lb4_services_v2', 12, 12],
  backends: ['cilium_lb4_backends_v3', 4, 12],
  revNat: ['cilium_lb4_reverse_nat', 2, 6],
  idTable: ['kube_lb_svc_ids', 8, 4],
  backendIdTable: ['kube_lb_backend_ids', 8, 4],
  sourceRange: ['cilium_lb4_source_range', 12, 1],
  affinityMatch: ['cilium_lb_affinity_match', 8, 1],
} as const satisfies Record<string, readonly [string, number, number]>;

type ByteRole = keyof typeof BYTE_MAPS;
/** The maps a FakeBpffs pins, by their place in Lb4Maps. */
export type FakeMapRole = ByteRole | 'maglev';
const REQUIRED: readonly FakeMapRole[] = ['services', 'backends', 'revNat'];
const ROLES: readonly FakeMapRole[] = [
  'services',
  'backends',
  'revNat',
  'idTable',
  'backendIdTable',
  'sourceRange',
  'affinityMatch',
  'maglev',
];

function byteMap(role: ByteRole, max: number, id = 0): FakeByteMap {
  const [name, keySize, valueSize] = BYTE_MAPS[role];
  const size =
    role === 'idTable'
      ? ID_TABLE_SHAPE.maxEntries
      : role === 'backendIdTable'
        ? BACKEND_ID_TABLE_SHAPE.maxEntries
        : max;
  return new FakeByteMap(name, keySize, valueSize, size, id);
}

export function createFakeLb4Maps(options: FakeMapsOptions = {}): FakeLb4Maps {
  const max = options.maxEntries ?? 65536;
  return {
    services: byteMap('services', max),
    backends: byteMap('backends', max),
    revNat: byteMap('revNat', max),
    idTable: byteMap('idTable', max),
    backendIdTable: byteMap('backendIdTable', max),
    sourceRange: options.sourceRange === false ? undefined : byteMap('sourceRange', max),
    affinityMatch: options.affinityMatch === false ? undefined : byteMap('affinityMatch', max),
    maglev: options.maglevTableSize ? new FakeMaglevMap(options.maglevTableSize) : undefined,
    close() {},
  };
}

/**
 * A bpffs directory of fake maps, for what happens when Cilium re-creates or unpins a map that kube-lb holds
 * open. `open()` binds to the maps pinned now, as BPF_OBJ_GET does; maps held from an earlier open stay
 * readable and writable (an fd keeps a map alive) but are no longer the pinned ones. Every map created gets a
 * fresh ID.
 */
export class FakeBpffs {
  readonly dir: string;
  readonly pinned = new Map<FakeMapRole, FakeByteMap | FakeMaglevMap>();
  readonly #options: FakeMapsOptions;
  #nextId = 1;

  constructor(options: FakeMapsOptions = {}, dir = '/sys/fs/bpf/tc/globals') {
    this.dir = dir;
    this.#options = options;
    for (const role of ROLES) {
      if (role === 'idTable' || role === 'backendIdTable') continue; // kube-lb pins its own tables on the first open
      if (role === 'sourceRange' && options.sourceRange === false) continue;
      if (role === 'affinityMatch' && options.affinityMatch === false) continue;
      if (role === 'maglev' && !options.maglevTableSize) continue;
      this.pinned.set(role, this.#create(role));
    }
  }

  /** Cilium's re-creation: the pin names a new, empty map of the same shape (`maxEntries` changed, say). */
  recreate(role: FakeMapRole, maxEntries?: number): FakeByteMap | FakeMaglevMap {
    const map = this.#create(role, maxEntries);
    this.pinned.set(role, map);
    return map;
  }

  /** The pin is removed (a remounted bpffs, an agent between unpinning and re-pinning). */
  unpin(role: FakeMapRole): void {
    this.pinned.delete(role);
  }

  /** Opens what is pinned now; a required map missing is refused, the ID table is created when missing. */
  open(): PinnedLb4Maps & { readonly maps: FakeLb4Maps } {
    for (const role of REQUIRED) {
      if (!this.pinned.has(role)) {
        const name = BYTE_MAPS[role as ByteRole][0];
        throw new DataplaneMapError('DATAPLANE_MAP_MISSING', `${this.dir}/${name}`, `${name} does not exist`);
      }
    }
    for (const role of ['idTable', 'backendIdTable'] as const)
      if (!this.pinned.has(role)) this.pinned.set(role, this.#create(role));
    const held = new Map(this.pinned);
    const bytes = (role: ByteRole): FakeByteMap | undefined => held.get(role) as FakeByteMap | undefined;
    const maps: FakeLb4Maps = {
      services: bytes('services')!,
      backends: bytes('backends')!,
      revNat: bytes('revNat')!,
      idTable: bytes('idTable')!,
      backendIdTable: bytes('backendIdTable')!,
      sourceRange: bytes('sourceRange'),
      affinityMatch: bytes('affinityMatch'),
      maglev: held.get('maglev') as FakeMaglevMap | undefined,
      close() {},
    };
    const pins = {
      changes: (): readonly PinChange[] =>
        ROLES.flatMap((role): PinChange[] => {
          const was = held.get(role)?.id;
          const now = this.pinned.get(role)?.id;
          const name = role === 'maglev' ? 'cilium_lb4_maglev' : BYTE_MAPS[role][0];
          return was === now ? [] : [{ name, path: `${this.dir}/${name}`, held: was, pinned: now }];
        }),
    };
    // As the native open: it reads the maps (but maglev) to check the Cilium line, and hands the read over.
    return { maps, pins, read: readSnapshot({ ...maps, maglev: undefined }) };
  }

  #create(role: FakeMapRole, maxEntries?: number): FakeByteMap | FakeMaglevMap {
    const id = this.#nextId++;
    if (role === 'maglev') return new FakeMaglevMap(this.#options.maglevTableSize ?? 251, id);
    return byteMap(role, maxEntries ?? this.#options.maxEntries ?? 65536, id);
  }
}
