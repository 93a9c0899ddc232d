// Announcement-only changes become a few vtysh commands; anything else asks for a full reload.
import t from 'tap';
import { renderFrrConfig } from '../../../src/core/bgp/frr-config.ts';
import { incrementalCommands, instancePreamble } from '../../../src/core/bgp/frr-diff.ts';
import { planBgp, type AdvertisementInput, type BgpInputs } from '../../../src/core/bgp/plan.ts';

const ad: AdvertisementInput = {
  name: 'a',
  peers: [],
  aggregationLength: 32,
  aggregationLengthV6: 128,
  communities: ['64512:1'],
  largeCommunities: [],
};
const inputs = (vips: string[], extra: Partial<BgpInputs> = {}): BgpInputs => ({
  node: { name: 'lb-1', labels: {} },
  peers: [
    {
      name: 'r',
      myASN: 64512,
      peerASN: 64512,
      peerAddress: '198.51.100.254',
      peerPort: 179,
      holdTimeSeconds: 9,
      keepaliveTimeSeconds: 3,
      ebgpMultiHop: false,
    },
  ],
  advertisements: [
    ad,
    { ...ad, name: 'web', poolSelector: { matchLabels: { tier: 'web' } }, communities: ['64512:2'] },
  ],
  bfdProfiles: [],
  served: vips.map((vip) => ({ vip, pool: 'p', poolLabels: {} })),
  ...extra,
});
const render = (vips: string[], extra: Partial<BgpInputs> = {}): string =>
  renderFrrConfig(planBgp(inputs(vips, extra)));

t.test('VIPs of an existing group added and removed: network lines only, additions first', async (t) => {
  const before = render(['192.0.2.1', '192.0.2.2']);
  const after = render(['192.0.2.2', '192.0.2.3']);
  const cmds = incrementalCommands(before, after)!;
  t.equal(cmds[0], 'configure terminal');
  t.same(cmds.slice(1, 3), ['router bgp 64512', 'address-family ipv4 unicast']);
  t.match(cmds[3], /^network 192\.0\.2\.3\/32 route-map kube-lb-net-/);
  t.match(cmds[4], /^no network 192\.0\.2\.1\/32 route-map kube-lb-net-/);
  t.equal(cmds.length, 5);
  t.same(incrementalCommands(after, after), [], 'nothing changed: nothing to do');
});

t.test(
  'a VIP that moves to another existing group is re-announced with the new route-map, never withdrawn',
  async (t) => {
    const pools = (web: string[]): BgpInputs['served'] =>
      ['192.0.2.1', '192.0.2.2', '192.0.2.3'].map((vip) => ({
        vip,
        pool: 'p',
        poolLabels: (web.includes(vip) ? { tier: 'web' } : {}) as Record<string, string>,
      }));
    const before = render([], { served: pools(['192.0.2.1']) });
    const after = render([], { served: pools(['192.0.2.1', '192.0.2.2']) });
    const cmds = incrementalCommands(before, after)!;
    t.same(
      cmds.filter((c) => c.startsWith('no ')),
      [],
      'no withdrawal of the moving prefix',
    );
    t.match(cmds.at(-1), /^network 192\.0\.2\.2\/32 route-map kube-lb-net-/);
  },
);

t.test('anything but announcements needs a full reload', async (t) => {
  const base = render(['192.0.2.1']);
  t.equal(incrementalCommands('', base), undefined, 'the first configuration');
  t.equal(incrementalCommands(base, render(['192.0.2.1'], { routerId: '198.51.100.11' })), undefined, 'router-id');
  const bfd = render(['192.0.2.1'], {
    peers: [{ ...inputs([]).peers[0]!, bfdProfile: 'fast' }],
    bfdProfiles: [
      {
        name: 'fast',
        receiveIntervalMs: 100,
        transmitIntervalMs: 100,
        detectMultiplier: 3,
        echoMode: false,
        echoIntervalMs: 50,
        passiveMode: false,
        minimumTtl: 254,
      },
    ],
  });
  t.equal(incrementalCommands(base, bfd), undefined, 'BFD on a peer');
});

t.test('a group that appears or empties brings or takes its whole route-map entries, and nothing else', async (t) => {
  const base = render(['192.0.2.1']);
  const newGroup = render(['192.0.2.1'], {
    served: [
      { vip: '192.0.2.1', pool: 'p', poolLabels: {} },
      { vip: '192.0.2.9', pool: 'p', poolLabels: { tier: 'web' } },
    ],
  });
  const up = incrementalCommands(base, newGroup)!;
  const network = up.findIndex((c) => c.startsWith('network 192.0.2.9/32 route-map kube-lb-net-'));
  const origin = up.findIndex((c) => /^route-map kube-lb-net-[0-9a-f]{8} permit 10$/.test(c));
  const out = up.findIndex((c) => /^route-map kube-lb-out-r permit \d+$/.test(c));
  t.ok(
    origin >= 0 && out >= 0 && network > origin && network > out,
    'the entries exist before the network line names them',
  );
  t.ok(up.includes(' set community 64512:1 64512:2'.trim()), 'with their attributes');
  t.same(
    up.filter((c) => c.startsWith('no ')),
    [],
    'nothing removed',
  );
  const down = incrementalCommands(newGroup, base)!;
  t.match(
    down.join('\n'),
    /no network 192\.0\.2\.9\/32 route-map kube-lb-net-[0-9a-f]{8}\n(end\nconfigure terminal\n)?no route-map kube-lb-net-[0-9a-f]{8} permit 10\nno route-map kube-lb-out-r permit \d+$/,
  );
  const none = incrementalCommands(base, render([]))!;
  t.ok(
    none.some((c) => c.startsWith('no network 192.0.2.1/32')),
    'the last VIP withdrawn incrementally too',
  );
});

t.test('the BGP instance is created with graceful restart off before a reload, and only then', async (t) => {
  const rendered = render(['192.0.2.1']);
  t.match(rendered, /^router bgp 64512\n( .*\n)* bgp graceful-restart-disable\n/m, 'the rendered instance has it');
  const empty = 'frr version 8.4.4\nfrr defaults traditional\n!\nend\n';
  t.same(instancePreamble(empty, rendered), ['configure terminal', 'router bgp 64512', 'bgp graceful-restart-disable']);
  const running =
    'frr defaults traditional\n!\nrouter bgp 64512\n bgp router-id 10.0.0.1\n bgp graceful-restart-disable\nexit\n!\n';
  t.equal(instancePreamble(running, rendered), undefined, 'the running instance has it: the reload does the rest');
  t.same(
    instancePreamble(running.replace(' bgp graceful-restart-disable\n', ''), rendered),
    ['configure terminal', 'router bgp 64512', 'bgp graceful-restart-disable'],
    'an instance from before it gets it',
  );
  t.same(
    instancePreamble(running.replace('64512', '64999'), rendered),
    ['configure terminal', 'no router bgp 64999', 'router bgp 64512', 'bgp graceful-restart-disable'],
    'an instance of another AS goes first',
  );
  t.equal(
    instancePreamble(running, renderFrrConfig(planBgp(inputs([], { peers: [] })))),
    undefined,
    'no peers: nothing',
  );
});
