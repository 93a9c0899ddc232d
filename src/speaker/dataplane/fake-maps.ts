// In-memory maps keyed by their encoded bytes, behaving like the kernel where it matters: fixed key/value
// sizes, max_entries (E2BIG when full), deletes of missing keys are no-ops, maglev inner maps get fresh IDs.
import { bytesKey, writeBytesKey, type PackedEntries } from '../../core/bpf/packed.ts';
import type { MaglevObserved } from '../../core/dataplane/ownership.ts';
import { KubeLbError } from '../../shared/errors.ts';
import type { ByteMap, Lb4Maps, MaglevMap } from './maps.ts';

export class FakeByteMap implements ByteMap {
  readonly name: string;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly entries = new Map<string, Uint8Array>();

  constructor(name: string, keySize: number, valueSize: number, maxEntries = 65536) {
    this.name = name;
    this.keySize = keySize;
    this.valueSize = valueSize;
    this.maxEntries = maxEntries;
  }

  dump(): PackedEntries {
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
      this.set(e.keys.subarray(i * this.keySize, (i + 1) * this.keySize), e.values.subarray(i * this.valueSize, (i + 1) * this.valueSize));
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
  readonly tables = new Map<number, { innerId: number; bytes: Uint8Array; digest: string }>();
  #nextInnerId = 1000;

  constructor(tableSize: number) {
    this.tableSize = tableSize;
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

export function createFakeLb4Maps(options: FakeMapsOptions = {}): FakeLb4Maps {
  const max = options.maxEntries ?? 65536;
  return {
    services: new FakeByteMap('cilium_lb4_services_v2', 12, 12, max),
    backends: new FakeByteMap('cilium_lb4_backends_v3', 4, 12, max),
    revNat: new FakeByteMap('cilium_lb4_reverse_nat', 2, 6, max),
    idTable: new FakeByteMap('kube_lb_svc_ids', 8, 4, 65536),
    sourceRange: options.sourceRange === false ? undefined : new FakeByteMap('cilium_lb4_source_range', 12, 1, max),
    affinityMatch: options.affinityMatch === false ? undefined : new FakeByteMap('cilium_lb_affinity_match', 8, 1, max),
    maglev: options.maglevTableSize ? new FakeMaglevMap(options.maglevTableSize) : undefined,
    close() {},
  };
}
