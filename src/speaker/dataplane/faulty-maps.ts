// Wraps maps so that writes fail at a set rate, deterministically from a seed. A failing batch first applies
// a prefix of its entries, as a kernel batch that stops part way does.
import type { PackedEntries } from '../../core/bpf/packed.ts';
import { KubeLbError } from '../../shared/errors.ts';
import type { ByteMap, Lb4Maps, MaglevMap } from './maps.ts';

export class InjectedFault extends KubeLbError {
  constructor(map: string, op: string) {
    super('FAULT_INJECTED', `${op} on ${map}: injected fault`, {
      transient: true,
      object: { kind: 'BPFMap', name: map },
    });
  }
}

/** A small deterministic PRNG (mulberry32), so a failing run can be replayed from its seed. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = s;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

function prefix(e: PackedEntries, n: number): PackedEntries {
  return {
    ...e,
    count: n,
    keys: e.keys.subarray(0, n * e.keySize),
    values: e.values.subarray(0, n * e.valueSize),
  };
}

class FaultyByteMap implements ByteMap {
  readonly #inner: ByteMap;
  readonly #fail: () => boolean;
  readonly #random: () => number;

  constructor(inner: ByteMap, fail: () => boolean, random: () => number) {
    this.#inner = inner;
    this.#fail = fail;
    this.#random = random;
  }
  get name(): string {
    return this.#inner.name;
  }
  get keySize(): number {
    return this.#inner.keySize;
  }
  get valueSize(): number {
    return this.#inner.valueSize;
  }
  dump(): PackedEntries {
    return this.#inner.dump();
  }
  upsert(entries: PackedEntries): void {
    if (this.#fail()) {
      this.#inner.upsert(prefix(entries, Math.floor(this.#random() * entries.count)));
      throw new InjectedFault(this.name, 'upsert');
    }
    this.#inner.upsert(entries);
  }
  remove(keys: PackedEntries): void {
    if (this.#fail()) {
      this.#inner.remove(prefix(keys, Math.floor(this.#random() * keys.count)));
      throw new InjectedFault(this.name, 'remove');
    }
    this.#inner.remove(keys);
  }
}

class FaultyMaglevMap implements MaglevMap {
  readonly #inner: MaglevMap;
  readonly #fail: () => boolean;

  constructor(inner: MaglevMap, fail: () => boolean) {
    this.#inner = inner;
    this.#fail = fail;
  }
  get name(): string {
    return this.#inner.name;
  }
  get tableSize(): number | undefined {
    return this.#inner.tableSize;
  }
  read(): ReturnType<MaglevMap['read']> {
    return this.#inner.read();
  }
  set(serviceId: number, table: Uint8Array, digest: string): void {
    if (this.#fail()) throw new InjectedFault(this.name, 'set');
    this.#inner.set(serviceId, table, digest);
  }
  remove(serviceIds: readonly number[]): void {
    if (this.#fail()) throw new InjectedFault(this.name, 'remove');
    this.#inner.remove(serviceIds);
  }
}

/** Maps whose writes fail with probability `rate` (0..1). */
export function faultyLb4Maps(inner: Lb4Maps, rate: number, seed: number): Lb4Maps {
  const random = seededRandom(seed);
  const fail = (): boolean => random() < rate;
  const wrap = (m: ByteMap | undefined): ByteMap | undefined => (m ? new FaultyByteMap(m, fail, random) : undefined);
  return {
    services: new FaultyByteMap(inner.services, fail, random),
    backends: new FaultyByteMap(inner.backends, fail, random),
    revNat: new FaultyByteMap(inner.revNat, fail, random),
    idTable: new FaultyByteMap(inner.idTable, fail, random),
    backendIdTable: new FaultyByteMap(inner.backendIdTable, fail, random),
    sourceRange: wrap(inner.sourceRange),
    affinityMatch: wrap(inner.affinityMatch),
    maglev: inner.maglev ? new FaultyMaglevMap(inner.maglev, fail) : undefined,
    close: () => inner.close(),
  };
}
