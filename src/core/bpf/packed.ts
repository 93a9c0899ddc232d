// Map contents as the kernel's batch calls move them: `count` keys and values packed back to back. Keys are
// compared as strings of their bytes (one char per byte), which is exact and cheap to hash.

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

/** The bytes [off, off+len) as a string with one char code per byte. */
export function bytesKey(bytes: Uint8Array, off: number, len: number): string {
  let s = '';
  for (let i = 0; i < len; i++) s += String.fromCharCode(bytes[off + i]!);
  return s;
}

/** Inverse of bytesKey, written into `out` at `off`. */
export function writeBytesKey(key: string, out: Uint8Array, off: number): void {
  for (let i = 0; i < key.length; i++) out[off + i] = key.charCodeAt(i);
}

export function bytesEqual(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number, len: number): boolean {
  for (let i = 0; i < len; i++) if (a[aOff + i] !== b[bOff + i]) return false;
  return true;
}

/** Packs string keys and byte values into one PackedEntries (what a batch update takes). */
export function packEntries(
  entries: ReadonlyArray<readonly [string, Uint8Array]>,
  keySize: number,
  valueSize: number,
): PackedEntries {
  const keys = new Uint8Array(entries.length * keySize);
  const values = new Uint8Array(entries.length * valueSize);
  entries.forEach(([k, v], i) => {
    writeBytesKey(k, keys, i * keySize);
    values.set(v, i * valueSize);
  });
  return { count: entries.length, keySize, valueSize, keys, values };
}

/** Packs string keys only (what a batch delete takes). */
export function packKeys(keys: readonly string[], keySize: number): PackedEntries {
  const out = new Uint8Array(keys.length * keySize);
  keys.forEach((k, i) => writeBytesKey(k, out, i * keySize));
  return { count: keys.length, keySize, valueSize: 0, keys: out, values: new Uint8Array(0) };
}
