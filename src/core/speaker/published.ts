// What each speaker publishes about itself for the one speaker that writes a claim's status: which claims its
// maps hold and which health-check targets it sees failing. It must stay small and change rarely, whatever the
// number of claims, so it is written on the node's own Lease (one object per node) and only when it changes:
//   programmed: claims are spread over BUCKETS buckets by a hash of their key; per bucket, a digest of the
//     fingerprints (claims.ts) of the claims the node has programmed. The reporter computes the same digests
//     from what it expects; a matching bucket means the peer holds exactly the expected claims of that bucket.
//     A mismatch (the peer lags behind, or failed a claim) costs precision only for that bucket's claims.
//   failing: the keys of the targets this node currently takes out of service (capped; usually empty).
import { createHash } from 'node:crypto';

export const BUCKETS = 16;
/** Failing targets listed at most; beyond that the list is marked truncated. */
export const MAX_FAILING = 64;
export const PUBLISHED_FORMAT = 'v1';

export interface PublishedState {
  /** BUCKETS digests, 8 hex characters each. */
  readonly buckets: readonly string[];
  /** Claims programmed, for humans and the CLI. */
  readonly programmed: number;
  readonly failing: readonly string[];
  readonly failingTruncated: boolean;
}

function hash(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

export function bucketOf(claimKey: string): number {
  return hash(claimKey).readUInt32BE(0) % BUCKETS;
}

/** Digests of fingerprints grouped by the bucket of their claim key. `entries`: claim key → fingerprint. */
export function bucketDigests(entries: ReadonlyMap<string, string>): string[] {
  const groups: string[][] = Array.from({ length: BUCKETS }, () => []);
  for (const [key, fp] of entries) groups[bucketOf(key)]!.push(fp);
  return groups.map((g) => hash(g.sort().join('\n')).toString('hex').slice(0, 8));
}

export function publishedState(programmed: ReadonlyMap<string, string>, failing: Iterable<string>): PublishedState {
  const all = [...new Set(failing)].sort();
  return {
    buckets: bucketDigests(programmed),
    programmed: programmed.size,
    failing: all.slice(0, MAX_FAILING),
    failingTruncated: all.length > MAX_FAILING,
  };
}

/** Annotation values: "v1 N d0,d1,…,d15" and "k1 k2 …" (a trailing "…" marks a truncated list). */
export function encodePublished(s: PublishedState): { programmed: string; failing: string } {
  return {
    programmed: `${PUBLISHED_FORMAT} ${s.programmed} ${s.buckets.join(',')}`,
    failing: [...s.failing, ...(s.failingTruncated ? ['…'] : [])].join(' '),
  };
}

/** Parses what encodePublished wrote; undefined for a missing or foreign format (treated as "knows nothing"). */
export function decodePublished(
  programmed: string | undefined,
  failing: string | undefined,
): PublishedState | undefined {
  const m = /^v1 (\d+) ([0-9a-f]{8}(?:,[0-9a-f]{8})*)$/.exec(programmed ?? '');
  if (!m) return undefined;
  const buckets = m[2]!.split(',');
  if (buckets.length !== BUCKETS) return undefined;
  const words = (failing ?? '').split(' ').filter(Boolean);
  const truncated = words.at(-1) === '…';
  return {
    buckets,
    programmed: Number(m[1]),
    failing: truncated ? words.slice(0, -1) : words,
    failingTruncated: truncated,
  };
}

export function samePublished(a: PublishedState | undefined, b: PublishedState | undefined): boolean {
  if (!a || !b) return a === b;
  const ea = encodePublished(a);
  const eb = encodePublished(b);
  return ea.programmed === eb.programmed && ea.failing === eb.failing;
}
