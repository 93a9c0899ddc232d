// normalizeFrontends: every backend is checked up front, whichever way its Backend objects are made (on first
// use for the common in-order list, at once for the rest), and both ways give the same backends in slot order.
import t from 'tap';
import { normalizeFrontends, type DesiredFrontend } from '../../../src/core/dataplane/frontend.ts';
import { PROFILES } from '../../../src/core/lb4/profile.ts';

const profile = PROFILES['1.18'];
const frontend = (backends: DesiredFrontend['backends']): DesiredFrontend => ({
  vip: '10.0.0.1',
  port: 80,
  protocol: 'TCP',
  backends,
});
const plain = (f: { backends: readonly object[] }) => f.backends.map((b) => ({ ...b }));

t.test('an in-order list and the same list shuffled give the same backends', async (t) => {
  const inOrder = [
    { address: '10.1.0.1', port: 30080 },
    { address: '10.1.0.1', port: 30081, weight: 3 },
    { address: '10.1.0.2', port: 30080 },
  ];
  const shuffled = [inOrder[2]!, inOrder[0]!, inOrder[1]!];
  const [a] = normalizeFrontends([frontend(inOrder)], profile).frontends;
  const [b] = normalizeFrontends([frontend(shuffled)], profile).frontends;
  t.same([a!.backendCount, a!.activeCount], [3, 3]);
  t.same(plain(a!), plain(b!), 'same backends, same order');
  t.same(plain(a!), [
    { address: 0x0a010001, port: 30080, proto: 6, state: 0, weight: 1 },
    { address: 0x0a010001, port: 30081, proto: 6, state: 0, weight: 3 },
    { address: 0x0a010002, port: 30080, proto: 6, state: 0, weight: 1 },
  ]);
  t.equal(a!.backends, a!.backends, 'made once');
});

t.test('duplicates and draining backends are ordered at once: active first, one entry each', async (t) => {
  const [f] = normalizeFrontends(
    [
      frontend([
        { address: '10.1.0.2', port: 30080, state: 'terminating' },
        { address: '10.1.0.1', port: 30080 },
        { address: '10.1.0.1', port: 30080 },
      ]),
    ],
    profile,
  ).frontends;
  t.same([f!.backendCount, f!.activeCount, f!.backends.length], [2, 1, 2]);
  t.same(
    f!.backends.map((b) => [b.address, b.state]),
    [
      [0x0a010001, 0],
      [0x0a010002, 1],
    ],
  );
});

t.test('a bad backend anywhere in an in-order list rejects its frontend up front', async (t) => {
  const cases: Array<[DesiredFrontend['backends'][number], RegExp]> = [
    [{ address: '10.1.0.9', port: 0 }, /backend 10\.1\.0\.9:0: port is not 1\.\.65535/],
    [{ address: '10.1.0.9', port: 30080, weight: 0 }, /backend 10\.1\.0\.9: weight 0/],
    [{ address: '10.1.0.999', port: 30080 }, /not an IPv4 address: "10\.1\.0\.999"/],
  ];
  for (const [bad, reason] of cases) {
    const good = frontend([
      { address: '10.1.0.1', port: 30080 },
      { address: '10.1.0.2', port: 30080 },
    ]);
    const r = normalizeFrontends(
      [good, { ...frontend([{ address: '10.1.0.1', port: 30080 }, bad]), vip: '10.0.0.2' }],
      profile,
    );
    t.equal(r.frontends.length, 1, 'the valid frontend stays');
    t.equal(r.frontends[0]!.backends.length, 2);
    t.equal(r.rejected.length, 1);
    t.match(r.rejected[0]!.reason, reason);
  }
});

t.test('backends made on first use are the ones checked, whatever the caller does with its list after', async (t) => {
  const list = [
    { address: '10.1.0.1', port: 30080 },
    { address: '10.1.0.2', port: 30080 },
  ];
  const [f] = normalizeFrontends([frontend(list)], profile).frontends;
  list[0]!.port = 0; // would have been refused
  list.push({ address: '10.1.0.3', port: 30080 });
  t.same(
    f!.backends.map((b) => [b.address, b.port]),
    [
      [0x0a010001, 30080],
      [0x0a010002, 30080],
    ],
  );
});
