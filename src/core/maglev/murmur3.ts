// MurmurHash3 x64 128-bit (Austin Appleby's reference algorithm), the hash Cilium's maglev uses to derive each
// backend's permutation. Returns the two 64-bit halves h1 and h2 as bigints.
const MASK64 = (1n << 64n) - 1n;
const C1 = 0x87c37b91114253d5n;
const C2 = 0x4cf5ad432745937fn;

const mul = (a: bigint, b: bigint): bigint => (a * b) & MASK64;
const add = (a: bigint, b: bigint): bigint => (a + b) & MASK64;
const rotl = (x: bigint, r: bigint): bigint => ((x << r) | (x >> (64n - r))) & MASK64;

function fmix64(k: bigint): bigint {
  k ^= k >> 33n;
  k = mul(k, 0xff51afd7ed558ccdn);
  k ^= k >> 33n;
  k = mul(k, 0xc4ceb9fe1a85ec53n);
  k ^= k >> 33n;
  return k;
}

function readU64LE(data: Uint8Array, off: number, len: number): bigint {
  let v = 0n;
  for (let i = len - 1; i >= 0; i--) v = (v << 8n) | BigInt(data[off + i]!);
  return v;
}

const mixK1 = (k1: bigint): bigint => mul(rotl(mul(k1, C1), 31n), C2);
const mixK2 = (k2: bigint): bigint => mul(rotl(mul(k2, C2), 33n), C1);

export function murmur3x64_128(data: Uint8Array, seed: number): [bigint, bigint] {
  let h1 = BigInt(seed >>> 0);
  let h2 = h1;
  const blocks = Math.floor(data.length / 16);
  for (let i = 0; i < blocks; i++) {
    h1 ^= mixK1(readU64LE(data, i * 16, 8));
    h1 = add(mul(add(rotl(h1, 27n), h2), 5n), 0x52dce729n);
    h2 ^= mixK2(readU64LE(data, i * 16 + 8, 8));
    h2 = add(mul(add(rotl(h2, 31n), h1), 5n), 0x38495ab5n);
  }
  const tail = blocks * 16;
  const rest = data.length & 15;
  if (rest > 8) h2 ^= mixK2(readU64LE(data, tail + 8, rest - 8));
  if (rest > 0) h1 ^= mixK1(readU64LE(data, tail, Math.min(rest, 8)));
  const len = BigInt(data.length);
  h1 ^= len;
  h2 ^= len;
  h1 = add(h1, h2);
  h2 = add(h2, h1);
  h1 = fmix64(h1);
  h2 = fmix64(h2);
  h1 = add(h1, h2);
  h2 = add(h2, h1);
  return [h1, h2];
}
