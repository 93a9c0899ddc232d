// Map contents as the kernel's batch calls move them: `count` keys and values packed back to back. Whole tables are
// indexed by their key bytes (PackedIndex); a few keys at a time are compared as strings of their bytes (bytesKey,
// one char per byte), which is exact and cheap to hash.

export interface PackedEntries {
  readonly count: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly keys: Uint8Array;
  readonly values: Uint8Array;
}

export function emptyEntries(keySize: number, valueSize: number): PackedEntries {
  return { count: 0, keySize, valueSize, keys: new Uint8Array(0), values: new Uint8Array(0) };
}

/**
 * The bytes [off, off+len) as a string with one char code per byte. The common key sizes build the string in
 * one call (a flat string, no concatenation), which matters at hundreds of thousands of keys per pass.
 */
export function bytesKey(b: Uint8Array, o: number, len: number): string {
  const c = String.fromCharCode;
  switch (len) {
    case 2:
      return c(b[o]!, b[o + 1]!);
    case 4:
      return c(b[o]!, b[o + 1]!, b[o + 2]!, b[o + 3]!);
    case 8:
      return c(b[o]!, b[o + 1]!, b[o + 2]!, b[o + 3]!, b[o + 4]!, b[o + 5]!, b[o + 6]!, b[o + 7]!);
    case 12:
      return c(
        b[o]!,
        b[o + 1]!,
        b[o + 2]!,
        b[o + 3]!,
        b[o + 4]!,
        b[o + 5]!,
        b[o + 6]!,
        b[o + 7]!,
        b[o + 8]!,
        b[o + 9]!,
        b[o + 10]!,
        b[o + 11]!,
      );
    default: {
      let s = '';
      for (let i = 0; i < len; i++) s += c(b[o + i]!);
      return s;
    }
  }
}

/** Whether two dumps hold the same entries in the same order, byte for byte. */
export function sameEntries(a: PackedEntries, b: PackedEntries): boolean {
  return (
    a.count === b.count &&
    a.keySize === b.keySize &&
    a.valueSize === b.valueSize &&
    Buffer.compare(a.keys, b.keys) === 0 &&
    Buffer.compare(a.values, b.values) === 0
  );
}

/**
 * Entries appended one at a time into growing packed buffers: how the desired image is built without an object
 * per entry. The caller keeps keys unique. The index by key bytes is built on first use (a plan against empty
 * maps never needs it).
 */
export class EntryTable implements PackedEntries {
  readonly keySize: number;
  readonly valueSize: number;
  count = 0;
  keys: Uint8Array;
  values: Uint8Array;
  keyView: DataView;
  valueView: DataView;
  #index: PackedIndex | undefined;

  constructor(keySize: number, valueSize: number, capacity = 64) {
    this.keySize = keySize;
    this.valueSize = valueSize;
    this.keys = new Uint8Array(Math.max(1, capacity) * keySize);
    this.values = new Uint8Array(Math.max(1, capacity) * valueSize);
    this.keyView = new DataView(this.keys.buffer);
    this.valueView = new DataView(this.values.buffer);
  }

  /** Appends room for one entry and returns its index; write the key and value at index * size. */
  push(): number {
    if ((this.count + 1) * this.keySize > this.keys.length) {
      const keys = new Uint8Array(this.keys.length * 2);
      keys.set(this.keys);
      const values = new Uint8Array(this.values.length * 2);
      values.set(this.values);
      this.keys = keys;
      this.values = values;
      this.keyView = new DataView(keys.buffer);
      this.valueView = new DataView(values.buffer);
    }
    this.#index = undefined;
    return this.count++;
  }

  /** Entry index by key bytes. */
  get index(): PackedIndex {
    this.#index ??= new PackedIndex(this);
    return this.#index;
  }

  keyAt(i: number): Uint8Array {
    return this.keys.subarray(i * this.keySize, (i + 1) * this.keySize);
  }

  valueAt(i: number): Uint8Array {
    return this.values.subarray(i * this.valueSize, (i + 1) * this.valueSize);
  }
}

/** Entries [start, end) of `from`, sharing its buffers. */
export function sliceEntries(from: PackedEntries, start: number, end: number): PackedEntries {
  const { keySize, valueSize } = from;
  return {
    count: end - start,
    keySize,
    valueSize,
    keys: from.keys.subarray(start * keySize, end * keySize),
    values: from.values.subarray(start * valueSize, end * valueSize),
  };
}

/** Copies the entries at `indexes` of `from` into one packed batch (keys only for a delete batch). */
export function pickEntries(from: PackedEntries, indexes: readonly number[], keysOnly = false): PackedEntries {
  const { keySize } = from;
  const valueSize = keysOnly ? 0 : from.valueSize;
  const n = indexes.length;
  // A run of consecutive entries (what a table written from empty yields): share the buffers, copy nothing.
  const first = indexes[0] ?? 0;
  if (n > 0 && indexes[n - 1] === first + n - 1 && isRun(indexes)) {
    const run = sliceEntries(from, first, first + n);
    return keysOnly ? { ...run, valueSize: 0, values: new Uint8Array(0) } : run;
  }
  const keys = new Uint8Array(n * keySize);
  const values = new Uint8Array(n * valueSize);
  for (let k = 0; k < n; k++) {
    const i = indexes[k]!;
    copy(from.keys, i * keySize, keys, k * keySize, keySize);
    if (valueSize) copy(from.values, i * valueSize, values, k * valueSize, valueSize);
  }
  return { count: n, keySize, valueSize, keys, values };
}

function isRun(indexes: readonly number[]): boolean {
  const first = indexes[0] ?? 0;
  for (let k = 1; k < indexes.length; k++) if (indexes[k] !== first + k) return false;
  return true;
}

function copy(from: Uint8Array, fromOff: number, to: Uint8Array, toOff: number, len: number): void {
  for (let b = 0; b < len; b++) to[toOff + b] = from[fromOff + b]!;
}

/** Inverse of bytesKey, written into `out` at `off`. */
export function writeBytesKey(key: string, out: Uint8Array, off: number): void {
  for (let i = 0; i < key.length; i++) out[off + i] = key.charCodeAt(i);
}

export function bytesEqual(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number, len: number): boolean {
  for (let i = 0; i < len; i++) if (a[aOff + i] !== b[bOff + i]) return false;
  return true;
}

/**
 * The entries of one packed table by their key bytes: open addressing over the bytes themselves, so indexing a
 * dump of hundreds of thousands of entries builds no string and no object per entry (a Map of bytesKey strings
 * took most of a plan against full maps: about 250 ms of 550 at 220,000 entries). Keys are unique in a map dump
 * and in an image; with a duplicate, the first entry is found.
 */
export class PackedIndex {
  readonly #keys: Uint8Array;
  readonly #keySize: number;
  /** Entry index + 1 per slot; 0 is an empty slot. At most half full, so probes stay short. */
  readonly #slots: Int32Array;
  readonly #mask: number;

  constructor(entries: Pick<PackedEntries, 'keys' | 'keySize' | 'count'>) {
    this.#keys = entries.keys;
    this.#keySize = entries.keySize;
    let size = 16;
    while (size < entries.count * 2) size *= 2;
    this.#slots = new Int32Array(size);
    this.#mask = size - 1;
    for (let i = 0; i < entries.count; i++) {
      let s = this.#hash(this.#keys, i * this.#keySize) & this.#mask;
      while (this.#slots[s] !== 0) {
        if (this.#same(this.#slots[s]! - 1, this.#keys, i * this.#keySize)) break;
        s = (s + 1) & this.#mask;
      }
      if (this.#slots[s] === 0) this.#slots[s] = i + 1;
    }
  }

  has(keys: Uint8Array, offset: number): boolean {
    return this.get(keys, offset) !== undefined;
  }

  /** The index of the entry whose key is the keySize bytes of `keys` at `offset`; undefined when there is none. */
  get(keys: Uint8Array, offset: number): number | undefined {
    let s = this.#hash(keys, offset) & this.#mask;
    for (;;) {
      const at = this.#slots[s]!;
      if (at === 0) return undefined;
      if (this.#same(at - 1, keys, offset)) return at - 1;
      s = (s + 1) & this.#mask;
    }
  }

  /** FNV-1a over the key's bytes. */
  #hash(b: Uint8Array, o: number): number {
    let h = 0x811c9dc5;
    for (let k = 0; k < this.#keySize; k++) h = Math.imul(h ^ b[o + k]!, 0x01000193);
    return h;
  }

  #same(index: number, b: Uint8Array, o: number): boolean {
    return bytesEqual(this.#keys, index * this.#keySize, b, o, this.#keySize);
  }
}
