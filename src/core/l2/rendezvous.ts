// Rendezvous (highest-random-weight) hashing: every node scores every VIP and the highest score wins. All
// speakers compute the same winner from the same set of candidates without talking to each other, and when a
// node joins or leaves only the VIPs it wins (or won) change hands.
//
// score(node, vip) = first 8 bytes, big-endian, of SHA-256(node + "\0" + vip). An operator can reproduce it:
//   printf '%s\0%s' lb-1 192.0.2.10 | sha256sum | cut -c1-16     (→ 5990f2ca6c9ae51a)
// Ties (astronomically unlikely) go to the lexically smaller node name so the order stays total.
import { createHash } from 'node:crypto';

export function rendezvousScore(node: string, vip: string): bigint {
  const digest = createHash('sha256').update(node).update('\0').update(vip).digest();
  return digest.readBigUInt64BE(0);
}

/** Candidates ordered from most to least preferred for `vip`; the first is the owner. */
export function rankCandidates(vip: string, candidates: Iterable<string>): string[] {
  const scored = [...new Set(candidates)].map((node) => ({ node, score: rendezvousScore(node, vip) }));
  scored.sort((a, b) => (a.score === b.score ? (a.node < b.node ? -1 : 1) : a.score > b.score ? -1 : 1));
  return scored.map((s) => s.node);
}

/** The winner for `vip` among `candidates`, or undefined when there are none. */
export function rendezvousOwner(vip: string, candidates: Iterable<string>): string | undefined {
  let best: { node: string; score: bigint } | undefined;
  for (const node of candidates) {
    const score = rendezvousScore(node, vip);
    if (!best || score > best.score || (score === best.score && node < best.node)) best = { node, score };
  }
  return best?.node;
}

/**
 * Remembers scores, so a speaker re-deciding every VIP on every change hashes each (node, VIP) pair once. Owned by
 * its caller (no module state); forgets everything past `maxEntries` pairs (a few MB) and starts over.
 */
export class RendezvousScores {
  readonly #scores = new Map<string, bigint>();
  readonly #maxEntries: number;

  constructor(maxEntries = 200_000) {
    this.#maxEntries = maxEntries;
  }

  score(node: string, vip: string): bigint {
    const key = `${node}\0${vip}`;
    let s = this.#scores.get(key);
    if (s === undefined) {
      if (this.#scores.size >= this.#maxEntries) this.#scores.clear();
      s = rendezvousScore(node, vip);
      this.#scores.set(key, s);
    }
    return s;
  }

  /** Same answer as rendezvousOwner. */
  owner(vip: string, candidates: Iterable<string>): string | undefined {
    let best: { node: string; score: bigint } | undefined;
    for (const node of candidates) {
      const score = this.score(node, vip);
      if (!best || score > best.score || (score === best.score && node < best.node)) best = { node, score };
    }
    return best?.node;
  }
}
