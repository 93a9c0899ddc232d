// A short fingerprint of a maglev table's bytes, so the periodic re-read compares tables of 16381 IDs by a
// string instead of element by element. Two FNV-1a 32-bit lanes over different byte phases; collisions only
// matter against a table someone else wrote into our inner map, which nothing does.
export function tableDigest(bytes: Uint8Array): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ bytes.length;
  for (let i = 0; i < bytes.length; i++) {
    a = Math.imul(a ^ bytes[i]!, 0x01000193);
    b = Math.imul(b ^ bytes[i]! ^ (i & 0xff), 0x01000193);
  }
  return `${bytes.length}:${(a >>> 0).toString(16)}:${(b >>> 0).toString(16)}`;
}
