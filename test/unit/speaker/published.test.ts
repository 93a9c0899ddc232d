// The per-node published state: bucketed digests of programmed claims and the failing targets.
import t from 'tap';
import {
  BUCKETS,
  MAX_FAILING,
  bucketDigests,
  bucketOf,
  decodePublished,
  encodePublished,
  publishedState,
  samePublished,
} from '../../../src/core/speaker/published.ts';

const programmed = new Map([
  ['tenant-a/web', 'tenant-a/web@1=198.51.100.200'],
  ['tenant-b/db', 'tenant-b/db@3=198.51.100.201'],
]);

t.test('digests depend on content only, and a change moves exactly one bucket', async (t) => {
  const a = bucketDigests(programmed);
  t.equal(a.length, BUCKETS);
  t.same(bucketDigests(new Map([...programmed].reverse())), a, 'insertion order does not matter');
  const changed = bucketDigests(new Map([...programmed, ['tenant-b/db', 'tenant-b/db@4=198.51.100.201']]));
  const diff = a.map((d, i) => (d === changed[i] ? -1 : i)).filter((i) => i >= 0);
  t.same(diff, [bucketOf('tenant-b/db')]);
});

t.test('encode and decode round-trip; foreign formats read as nothing', async (t) => {
  const s = publishedState(programmed, ['tcp://10.200.0.12:30080']);
  const enc = encodePublished(s);
  t.match(enc.programmed, /^v1 2 [0-9a-f]{8}(,[0-9a-f]{8}){15}$/);
  t.equal(enc.failing, 'tcp://10.200.0.12:30080');
  t.ok(samePublished(decodePublished(enc.programmed, enc.failing), s));
  t.equal(decodePublished('v2 whatever', ''), undefined);
  t.equal(decodePublished(undefined, undefined), undefined);
});

t.test('a long failing list is capped and marked truncated', async (t) => {
  const many = Array.from({ length: MAX_FAILING + 5 }, (_, i) => `tcp://10.200.1.${i}:30080`);
  const s = publishedState(new Map(), many);
  t.equal(s.failing.length, MAX_FAILING);
  t.ok(s.failingTruncated);
  const back = decodePublished(encodePublished(s).programmed, encodePublished(s).failing);
  t.equal(back?.failingTruncated, true);
  t.equal(back?.failing.length, MAX_FAILING);
});
