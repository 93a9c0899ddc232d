import t from 'tap';
import { murmur3x64_128 } from '../../../src/core/maglev/murmur3.ts';
import {
  DEFAULT_MAGLEV_HASH_SEED,
  maglevHashString,
  maglevMurmurSeed,
  maglevTable,
} from '../../../src/core/maglev/table.ts';
import { backendMaglevName, normalizeFrontends } from '../../../src/core/dataplane/frontend.ts';
import { PROFILES, type Lb4Profile } from '../../../src/core/lb4/profile.ts';

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
  const nodeA = maglevTable(
    names.map((name, i) => ({ name, id: 100 + i, weight: 1 })),
    251,
    seed,
  );
  const nodeB = maglevTable(
    [...names].reverse().map((name) => ({ name, id: 900 + names.indexOf(name), weight: 1 })),
    251,
    seed,
  );
  t.same(
    [...nodeA].map((id) => id - 100),
    [...nodeB].map((id) => id - 900),
    'same backend in every cell',
  );
  t.equal(new Set(nodeA).size, 3, 'every backend appears');
  t.equal(maglevTable([], 251, seed).length, 0);
});

t.test('removing a backend moves little else (minimal disruption)', async (t) => {
  const names = Array.from({ length: 5 }, (_, i) => `10.0.0.${i + 1}:80/TCP`);
  const before = maglevTable(
    names.map((name, i) => ({ name, id: i + 1, weight: 1 })),
    1021,
    seed,
  );
  const after = maglevTable(
    names.slice(0, 4).map((name, i) => ({ name, id: i + 1, weight: 1 })),
    1021,
    seed,
  );
  let moved = 0;
  for (let i = 0; i < before.length; i++) if (before[i] !== 5 && before[i] !== after[i]) moved++;
  t.ok(moved / before.length < 0.05, `only ${moved} of ${before.length} cells of surviving backends moved`);
});

t.test('seed validation', async (t) => {
  t.throws(() => maglevMurmurSeed('short'));
  t.equal(maglevMurmurSeed(DEFAULT_MAGLEV_HASH_SEED), 0x24b7ef82);
});

// Cilium's pkg/maglev TestReproducible (the same expected table in v1.18.11, v1.19.7 and v1.20.2): backends
// 0.0.0.1:1, 0.0.0.3:3, 0.0.0.4:4, 0.0.0.5:5 over TCP with weights 2, 13, 111, 10 and IDs 0..3, M=251 and the
// default seed, as runs of <id>(<count>). kube-lb hashes each backend by Cilium's string and must fill every cell
// with the same backend.
const CILIUM_REPRODUCIBLE =
  '2(5),3(1),2(3),1(1),2(2),0(1),2(1),3(1),2(1),3(1),2(1),1(1),2(7),1(1),2(14),3(1),2(1),' +
  '1(2),2(12),3(1),2(3),1(1),2(4),3(1),2(8),3(1),2(2),1(1),2(16),1(2),2(3),3(1),2(11),1(2),2(4),3(1),2(3),' +
  '1(1),2(4),3(1),2(1),0(1),1(1),2(8),1(1),2(7),1(1),2(4),3(1),2(1),3(1),2(9),1(2),2(5),1(1),2(7),3(1),2(1),' +
  '3(1),1(1),2(8),1(1),2(4),0(1),2(1),1(1),2(5),3(1),2(3),1(1),2(4),3(1),2(3),1(1),2(12),0(1),3(1),2(3),3(1),' +
  '2(4),3(1),2(2),1(1),2(7)';

function runs(table: Uint32Array): string {
  const out: string[] = [];
  for (let i = 0; i < table.length; ) {
    let j = i;
    while (j < table.length && table[j] === table[i]) j++;
    out.push(`${table[i]}(${j - i})`);
    i = j;
  }
  return out.join(',');
}

t.test("Cilium's backend hash string, and the very table Cilium computes for the same backends", async (t) => {
  t.equal(maglevHashString('10.1.0.5', 30080, 'TCP'), '[10.1.0.5:30080/TCP,State:active]');
  const backends = [
    { n: 1, weight: 2 },
    { n: 3, weight: 13 },
    { n: 4, weight: 111 },
    { n: 5, weight: 10 },
  ].map((b, id) => ({ name: maglevHashString(`0.0.0.${b.n}`, b.n, 'TCP'), id, weight: b.weight }));
  t.equal(runs(maglevTable(backends, 251, seed)), CILIUM_REPRODUCIBLE);
});

t.test("equal weights are plain turns, so weight 1 (kube-lb) and 100 (Cilium's default) give one table", async (t) => {
  const names = [
    '[10.1.0.5:30080/TCP,State:active]',
    '[10.1.0.6:30080/TCP,State:active]',
    '[10.1.0.7:30080/TCP,State:active]',
  ];
  const one = maglevTable(
    names.map((name, id) => ({ name, id, weight: 1 })),
    251,
    seed,
  );
  const hundred = maglevTable(
    names.map((name, id) => ({ name, id, weight: 100 })),
    251,
    seed,
  );
  t.same([...one], [...hundred]);
});

t.test("the frontends name backends by Cilium's hash string (ANY where 1.17 strips protocols)", async (t) => {
  const desired = [
    { vip: '10.0.0.1', port: 53, protocol: 'UDP' as const, backends: [{ address: '10.1.0.5', port: 30053 }] },
  ];
  const name = (profile: Lb4Profile): string =>
    backendMaglevName(normalizeFrontends(desired, profile).frontends[0]!.backends[0]!, profile);
  t.equal(name(PROFILES['1.19']), '[10.1.0.5:30053/UDP,State:active]');
  t.equal(
    name({ ...PROFILES['1.17'], keyProto: 'any', protoFallback: false, maglevHashProto: 'any' }),
    '[10.1.0.5:30053/ANY,State:active]',
  );
});
