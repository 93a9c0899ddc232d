import t from 'tap';
import { murmur3x64_128 } from '../../../src/core/maglev/murmur3.ts';
import { DEFAULT_MAGLEV_HASH_SEED, maglevMurmurSeed, maglevTable } from '../../../src/core/maglev/table.ts';

const seed = maglevMurmurSeed(DEFAULT_MAGLEV_HASH_SEED);

t.test('murmur3 x64 128 reference values', async (t) => {
  t.same(murmur3x64_128(new Uint8Array(0), 0), [0n, 0n], 'empty input, seed 0');
  // Lengths 1..33 cover every tail case; the halves must differ and be stable.
  const a = murmur3x64_128(new TextEncoder().encode('hello'), 0);
  t.same(a, murmur3x64_128(new TextEncoder().encode('hello'), 0));
  t.not(a[0], murmur3x64_128(new TextEncoder().encode('hello'), 1)[0], 'seed matters');
});

t.test("weighted table matches Cilium's own test vector (pkg/maglev TestWeightedBackendWithRemoval)", async (t) => {
  // Same names, weights, IDs, M=1021 and default seed as Cilium's test, which asserts these exact counts.
  const table = maglevTable(
    [
      { name: 'one', id: 0, weight: 2 },
      { name: 'three', id: 1, weight: 13 },
      { name: 'two', id: 2, weight: 111 },
      { name: 'tzwe', id: 3, weight: 10 },
    ],
    1021,
    seed,
  );
  const counts = [0, 0, 0, 0];
  for (const id of table) counts[id]!++;
  t.same(counts, [16, 98, 832, 75]);
});

t.test('same input, same table, whatever the order and the node-local IDs', async (t) => {
  const names = ['10.1.0.5:30080/TCP', '10.1.0.6:30080/TCP', '10.1.0.7:30080/TCP'];
  const nodeA = maglevTable(names.map((name, i) => ({ name, id: 100 + i, weight: 1 })), 251, seed);
  const nodeB = maglevTable(
    [...names].reverse().map((name) => ({ name, id: 900 + names.indexOf(name), weight: 1 })),
    251,
    seed,
  );
  t.same([...nodeA].map((id) => id - 100), [...nodeB].map((id) => id - 900), 'same backend in every cell');
  t.equal(new Set(nodeA).size, 3, 'every backend appears');
  t.equal(maglevTable([], 251, seed).length, 0);
});

t.test('removing a backend moves little else (minimal disruption)', async (t) => {
  const names = Array.from({ length: 5 }, (_, i) => `10.0.0.${i + 1}:80/TCP`);
  const before = maglevTable(names.map((name, i) => ({ name, id: i + 1, weight: 1 })), 1021, seed);
  const after = maglevTable(names.slice(0, 4).map((name, i) => ({ name, id: i + 1, weight: 1 })), 1021, seed);
  let moved = 0;
  for (let i = 0; i < before.length; i++) if (before[i] !== 5 && before[i] !== after[i]) moved++;
  t.ok(moved / before.length < 0.05, `only ${moved} of ${before.length} cells of surviving backends moved`);
});

t.test('seed validation', async (t) => {
  t.throws(() => maglevMurmurSeed('short'));
  t.equal(maglevMurmurSeed(DEFAULT_MAGLEV_HASH_SEED), 0x24b7ef82);
});
