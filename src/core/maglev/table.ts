// Maglev lookup tables the way Cilium computes them (pkg/maglev, the same in 1.17–1.20): each backend's
// permutation comes from murmur3 of its hash string with the cluster's hash seed; backends are sorted by that
// string and take turns filling the table, weighted turns when weights differ. The table depends only on the
// strings, weights, M and the seed, never on node-local backend IDs, so every LB node builds the same mapping
// from flow hash to backend, and it is the table Cilium itself would build for the same backends.
import { KubeLbError } from '../../shared/errors.ts';
import { murmur3x64_128 } from './murmur3.ts';

/** Cilium's default --bpf-lb-maglev-hash-seed (base64 of 12 bytes). */
export const DEFAULT_MAGLEV_HASH_SEED = 'JLfvgnHc2kaSUFaI';

/**
 * Cilium's hash string of an IPv4 backend in cluster 0, external scope: "[10.0.0.1:30080/TCP,State:active]"
 * (pkg/maglev BackendInfo.setHashString; the state part is constant, only active backends are hashed).
 * `protocol` is Cilium's L4Type name: TCP, UDP, SCTP, or ANY where the agent strips protocols.
 */
export function maglevHashString(address: string, port: number, protocol: string): string {
  return `[${address}:${port}/${protocol},State:active]`;
}

export interface MaglevBackend {
  /** What the permutation is derived from; the same on every node (maglevHashString). */
  readonly name: string;
  /** Node-local backend ID written into the table. */
  readonly id: number;
  /** Relative weight, >= 1. */
  readonly weight: number;
}

/** Whether Cilium accepts this --bpf-lb-maglev-hash-seed: standard base64 of exactly 12 bytes. */
export function isMaglevHashSeed(base64Seed: string): boolean {
  const bytes = Buffer.from(base64Seed, 'base64');
  return bytes.length === 12 && bytes.toString('base64') === base64Seed;
}

/** The murmur seed: the first 4 bytes of the 12-byte base64 seed, big-endian (the rest seed jhash). */
export function maglevMurmurSeed(base64Seed: string): number {
  if (!isMaglevHashSeed(base64Seed)) {
    throw new KubeLbError('MAGLEV_SEED_INVALID', `maglev hash seed must be base64 of 12 bytes: ${base64Seed}`);
  }
  return Buffer.from(base64Seed, 'base64').readUInt32BE(0);
}

export function maglevOffsetAndSkip(name: string, m: number, seed: number): { offset: number; skip: number } {
  const [h1, h2] = murmur3x64_128(new TextEncoder().encode(name), seed);
  const bm = BigInt(m);
  return { offset: Number(h1 % bm), skip: Number((h2 % (bm - 1n)) + 1n) };
}

/** The M-entry table of backend IDs; empty for no backends. M must be prime (Cilium's sizes are). */
export function maglevTable(backends: readonly MaglevBackend[], m: number, seed: number): Uint32Array {
  const table = new Uint32Array(m);
  const l = backends.length;
  if (l === 0) return new Uint32Array(0);
  const sorted = [...backends].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const skip = new Float64Array(l);
  // cur[i] is the permutation value at next[i]: perm[j] = (offset + j * skip) % m, stepped incrementally.
  const cur = new Float64Array(l);
  let weightSum = 0;
  const weightCntr = new Float64Array(l);
  sorted.forEach((b, i) => {
    const p = maglevOffsetAndSkip(b.name, m, seed);
    cur[i] = p.offset;
    skip[i] = p.skip;
    weightSum += b.weight;
    weightCntr[i] = b.weight / l;
  });
  const weightsUsed = Math.floor(weightSum / l) > 1;
  const filled = new Uint8Array(m);
  for (let n = 0; n < m; n++) {
    let i = n % l;
    if (weightsUsed) {
      while ((n + 1) * sorted[i]!.weight < Math.trunc(weightCntr[i]!)) i = (i + 1) % l;
      weightCntr[i]! += weightSum;
    }
    let c = cur[i]!;
    while (filled[c]) c = (c + skip[i]!) % m;
    filled[c] = 1;
    table[c] = sorted[i]!.id;
    cur[i] = (c + skip[i]!) % m;
  }
  return table;
}
