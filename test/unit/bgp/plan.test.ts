// The BGP plan and its FRR configuration: which peers a node opens, which prefixes each gets with which
// attributes, and text that is a pure function of the plan (same plan, same bytes; one peer's change touches only
// that peer's lines, so frr-reload.py resets nothing else).
import t from 'tap';
import { renderFrrConfig, passwordProblem } from '../../../src/core/bgp/frr-config.ts';
import { aggregatePrefix, planBgp, type BgpInputs, type PeerInput } from '../../../src/core/bgp/plan.ts';

const peer = (name: string, extra: Partial<PeerInput> = {}): PeerInput => ({
  name,
  myASN: 64512,
  peerASN: 64512,
  peerAddress: '198.51.100.254',
  peerPort: 179,
  holdTimeSeconds: 9,
  keepaliveTimeSeconds: 3,
  ebgpMultiHop: false,
  ...extra,
});
const base: BgpInputs = {
  node: { name: 'lb-1', labels: { zone: 'a' } },
  peers: [peer('router')],
  advertisements: [
    { name: 'all', peers: [], aggregationLength: 32, aggregationLengthV6: 128, communities: [], largeCommunities: [] },
  ],
  bfdProfiles: [],
  served: [
    { vip: '192.0.2.10', pool: 'p', poolLabels: { tier: 'web' } },
    { vip: '192.0.2.11', pool: 'p', poolLabels: { tier: 'db' } },
  ],
};

t.test('aggregation masks the VIP to the advertisement length, per family', async (t) => {
  t.equal(aggregatePrefix('192.0.2.77', 24, 128)?.prefix, '192.0.2.0/24');
  t.equal(aggregatePrefix('192.0.2.77', 32, 128)?.prefix, '192.0.2.77/32');
  t.equal(aggregatePrefix('2001:db8::7', 24, 64)?.prefix, '2001:db8::/64');
  t.equal(aggregatePrefix('not-an-ip', 32, 128), undefined);
});

t.test('peers are chosen by node selector; prefixes by pool, node and peer selection', async (t) => {
  const plan = planBgp({
    ...base,
    peers: [
      peer('router'),
      peer('zone-b-only', { peerAddress: '198.51.100.253', nodeSelector: { matchLabels: { zone: 'b' } } }),
      peer('spine', { peerAddress: '198.51.100.252', peerASN: 65000 }),
    ],
    advertisements: [
      {
        ...base.advertisements[0]!,
        name: 'web',
        poolSelector: { matchLabels: { tier: 'web' } },
        communities: ['64512:1'],
      },
      {
        ...base.advertisements[0]!,
        name: 'db-to-spine',
        poolSelector: { matchLabels: { tier: 'db' } },
        peers: ['spine'],
      },
      { ...base.advertisements[0]!, name: 'other-nodes', nodeSelector: { matchLabels: { zone: 'b' } } },
    ],
  });
  t.same(
    plan.peers.map((p) => p.name),
    ['router', 'spine'],
    'the zone-b peer is not opened on a zone-a node',
  );
  t.same(
    plan.peers[0]!.prefixes.map((x) => x.prefix),
    ['192.0.2.10/32'],
  );
  t.same(plan.peers[0]!.prefixes[0]!.communities, ['64512:1']);
  t.same(
    plan.peers[1]!.prefixes.map((x) => x.prefix),
    ['192.0.2.10/32', '192.0.2.11/32'],
  );
  t.same(plan.prefixes, ['192.0.2.10/32', '192.0.2.11/32']);
});

t.test(
  'advertisements for one prefix merge communities; differing localPrefs keep the highest and say so',
  async (t) => {
    const plan = planBgp({
      ...base,
      advertisements: [
        { ...base.advertisements[0]!, name: 'a', communities: ['64512:1'], localPref: 100 },
        { ...base.advertisements[0]!, name: 'b', communities: ['64512:2', '64512:1'], localPref: 300 },
      ],
    });
    const x = plan.peers[0]!.prefixes[0]!;
    t.same(x.communities, ['64512:1', '64512:2']);
    t.equal(x.localPref, 300);
    t.match(plan.problems, [{ kind: 'BGPAdvertisement', name: 'b', field: 'spec.localPref' }]);
  },
);

t.test('a missing BFD profile and a duplicate peer address are problems, not failures', async (t) => {
  const plan = planBgp({ ...base, peers: [peer('a', { bfdProfile: 'nope' }), peer('b')] });
  t.same(
    plan.peers.map((p) => p.name),
    ['a'],
  );
  t.equal(plan.peers[0]!.bfd, undefined);
  t.match(plan.problems, [
    { kind: 'BGPPeer', name: 'b', field: 'spec.peerAddress', message: /already the address of BGPPeer a/ },
    { kind: 'BGPPeer', name: 'a', field: 'spec.bfdProfile' },
  ]);
});

t.test('no peers: a configuration without a BGP instance; nothing served: sessions but no network', async (t) => {
  t.notMatch(renderFrrConfig(planBgp({ ...base, peers: [] })), /router bgp/);
  const idle = renderFrrConfig(planBgp({ ...base, served: [] }));
  t.match(idle, /neighbor 198\.51\.100\.254 remote-as 64512/);
  t.notMatch(idle, /^ {2}network /m);
  t.match(idle, /route-map kube-lb-out-router deny 65000/, 'the peer still has its (deny-all) route-map');
});

t.test('the configuration is deterministic, and a change to one peer leaves the others byte-identical', async (t) => {
  const two = { ...base, peers: [peer('router'), peer('spine', { peerAddress: '198.51.100.252', peerASN: 65000 })] };
  const a = renderFrrConfig(planBgp(two));
  t.equal(renderFrrConfig(planBgp({ ...two, peers: [...two.peers].reverse() })), a, 'input order does not matter');
  const b = renderFrrConfig(
    planBgp({ ...two, peers: [two.peers[0]!, { ...two.peers[1]!, holdTimeSeconds: 30, keepaliveTimeSeconds: 10 }] }),
  );
  const changed = b.split('\n').filter((l) => !a.split('\n').includes(l));
  t.same(changed, [' neighbor 198.51.100.252 timers 10 30']);
  t.match(a, /neighbor 198\.51\.100\.252 remote-as 65000/);
  t.match(a, /bgp route-map delay-timer 0/, 'route-map changes apply at once');
});

t.test('attributes render as route-map entries per attribute set; BFD profiles as a bfd block', async (t) => {
  const text = renderFrrConfig(
    planBgp({
      ...base,
      peers: [peer('router', { bfdProfile: 'fast', password: 'sekret', myASN: 64513 })],
      bfdProfiles: [
        {
          name: 'fast',
          receiveIntervalMs: 100,
          transmitIntervalMs: 100,
          detectMultiplier: 3,
          echoMode: false,
          echoIntervalMs: 50,
          passiveMode: true,
          minimumTtl: 254,
        },
      ],
      advertisements: [
        {
          ...base.advertisements[0]!,
          communities: ['no-export', '64512:100'],
          largeCommunities: ['64512:7:1'],
          localPref: 200,
        },
      ],
    }),
  );
  t.match(
    text,
    /bfd\n profile fast\n {2}receive-interval 100\n {2}transmit-interval 100\n {2}passive-mode\n exit/,
    'non-default timers only, as FRR shows them',
  );
  t.match(text, /router bgp 64513\n/);
  t.match(text, / neighbor 198\.51\.100\.254 password sekret\n/);
  t.match(text, / neighbor 198\.51\.100\.254 bfd profile fast\n/);
  const tag = /route-map (kube-lb-net-[0-9a-f]{8}) permit 10\n set tag (\d+)\n/.exec(text);
  t.ok(tag, 'the group of the prefixes has an origin route-map that tags them');
  t.match(text, new RegExp(`  network 192\\.0\\.2\\.10/32 route-map ${tag?.[1]}\\n`));
  t.match(
    text,
    new RegExp(
      `route-map kube-lb-out-router permit ${1 + (Number(tag?.[2]) % 64_000)}\\n match tag ${tag?.[2]}\\n set community 64512:100 no-export\\n set large-community 64512:7:1\\n set local-preference 200\\n`,
    ),
  );
  t.match(text, / neighbor 198\.51\.100\.254 bfd\n neighbor 198\.51\.100\.254 bfd profile fast\n/);
  t.match(text, / neighbor 198\.51\.100\.254 route-map kube-lb-in in\n/, 'nothing is taken in');
});

t.test('passwords FRR cannot take are named', async (t) => {
  t.equal(passwordProblem('fine-password'), undefined);
  t.match(passwordProblem(''), /empty/);
  t.match(passwordProblem('two words'), /white space/);
  t.match(passwordProblem('x'.repeat(81)), /80/);
});
