// The speaker's own FRR configuration against a real router, for what the e2e topology (IPv4, iBGP) does not
// have: eBGP with ebgp-multihop, and an IPv6 session carrying IPv6 VIPs. The configuration is the product's (the
// plan, its rendering, and the speaker's Frr with frr-reload.py), applied to FRR under frr-guard.sh in a node
// namespace; BIRD 2 in a router namespace, in another AS, says what it learned and from which session.
import t from 'tap';
import { startBirdRouter } from '../../../lab/bird-router.ts';
import { eventually } from '../../../lab/eventually.ts';
import { startFrrNode } from '../../../lab/frr.ts';
import { Ledger } from '../../../lab/ledger.ts';
import { L2Segment, Netns } from '../../../lab/netns.ts';
import { SetupStack } from '../../../lab/l2-topology.ts';
import { renderFrrConfig } from '../../../src/core/bgp/frr-config.ts';
import { planBgp, type PeerInput } from '../../../src/core/bgp/plan.ts';
import { createLogger } from '../../../src/shared/logger.ts';
import { Frr } from '../../../src/speaker/bgp/frr.ts';

const NODE_AS = 64512;
const ROUTER_AS = 64600;
const ROUTER_V4 = '10.78.0.1';
const ROUTER_V6 = 'fd00:78::1';
const NODE_V4 = '10.78.0.11';
const NODE_V6 = 'fd00:78::11';
const VIP_V4 = '192.0.2.20';
const VIP_V6 = '2001:db8:78::20';

const peer = (name: string, peerAddress: string, extra: Partial<PeerInput> = {}): PeerInput => ({
  name,
  myASN: NODE_AS,
  peerASN: ROUTER_AS,
  peerAddress,
  peerPort: 179,
  holdTimeSeconds: 9,
  keepaliveTimeSeconds: 3,
  connectTimeSeconds: 1,
  ebgpMultiHop: false,
  ...extra,
});

t.test('the rendered configuration: eBGP with multihop over IPv4, and an IPv6 session with IPv6 VIPs', async (t) => {
  const ledger = Ledger.open('bgp-rendered');
  const setup = new SetupStack();
  t.teardown(() => setup.unwind());
  const destroy = (x: { destroy(): Promise<void> }): Promise<void> => x.destroy();
  const stop = (x: { stop(): Promise<void> }): Promise<void> => x.stop();
  const segment = await setup.step(L2Segment.create(ledger, 'brsw'), destroy);
  const routerNs = await setup.step(Netns.create(ledger, 'brr'), destroy);
  const nodeNs = await setup.step(Netns.create(ledger, 'brn'), destroy);
  await segment.attach(routerNs, `${ROUTER_V4}/24`);
  await segment.attach(nodeNs, `${NODE_V4}/24`);
  // No duplicate-address detection: a tentative address would refuse the sessions for the first second or two.
  await routerNs.ip('addr', 'add', `${ROUTER_V6}/64`, 'dev', 'eth0', 'nodad');
  await nodeNs.ip('addr', 'add', `${NODE_V6}/64`, 'dev', 'eth0', 'nodad');

  const router = await setup.step(
    startBirdRouter({
      ledger,
      netns: routerNs,
      routerId: ROUTER_V4,
      localAs: ROUTER_AS,
      peers: [
        { address: NODE_V4, as: NODE_AS, multihop: true },
        { address: NODE_V6, as: NODE_AS },
      ],
    }),
    stop,
  );
  const node = await setup.step(startFrrNode({ ledger, netns: nodeNs, name: 'lb-1' }), stop);
  const frr = new Frr({
    vtySocketDir: node.vtySocketDir,
    workDir: node.workDir,
    logger: createLogger({ program: 'test', level: 'silent' }),
  });
  t.teardown(() => {
    if (!t.passing()) t.comment(`logs: ${router.logFile} ${node.logFile}`);
  });

  const plan = planBgp({
    node: { name: 'lb-1', labels: {} },
    routerId: NODE_V4,
    peers: [peer('edge-v4', ROUTER_V4, { ebgpMultiHop: true }), peer('edge-v6', ROUTER_V6)],
    advertisements: [
      {
        name: 'all',
        peers: [],
        aggregationLength: 32,
        aggregationLengthV6: 128,
        communities: ['64512:100'],
        largeCommunities: ['64512:7:1'],
      },
    ],
    bfdProfiles: [],
    served: [
      { vip: VIP_V4, pool: 'v4', poolLabels: {} },
      { vip: VIP_V6, pool: 'v6', poolLabels: {} },
    ],
  });
  t.same(plan.problems, [], 'the plan has no problems');
  const config = renderFrrConfig(plan);
  t.match(config, new RegExp(`neighbor ${ROUTER_V4} ebgp-multihop`), 'the rendering asks for ebgp-multihop');
  await frr.apply(config);

  const sessions = await eventually(
    'both sessions Established, as the router sees them',
    async () => {
      const p = await router.protocols();
      return p.length === 2 && p.every((x) => x.bgpState === 'Established') ? p : undefined;
    },
    30_000,
  );
  for (const s of sessions)
    t.notOk(
      s.neighborCaps.some((c) => /graceful restart/i.test(c)),
      `${s.peer}: no graceful-restart capability (${s.neighborCaps.join(', ')})`,
    );
  t.match(
    (await frr.neighbors()).map((n) => ({ peer: n.peer, state: n.state })).sort((a, b) => (a.peer < b.peer ? -1 : 1)),
    [
      { peer: ROUTER_V4, state: 'Established' },
      { peer: ROUTER_V6, state: 'Established' },
    ],
    "FRR's view, as the speaker parses it",
  );

  // Each VIP over the session of its own family only, with the node's AS path and the advertisement's communities.
  for (const [prefix, from] of [
    [`${VIP_V4}/32`, NODE_V4],
    [`${VIP_V6}/128`, NODE_V6],
  ] as const) {
    const routes = await eventually(`${prefix} in the router's RIB`, async () => {
      const r = await router.routes(prefix);
      return r.length > 0 ? r : undefined;
    });
    t.equal(routes.length, 1, `${prefix} comes over one session`);
    t.match(routes[0], {
      from: router.protocolOf(from),
      asPath: String(NODE_AS),
      communities: ['64512:100'],
      largeCommunities: ['64512:7:1'],
    });
    t.same(routes[0]!.nexthops, [from], `${prefix}: next hop, the node`);
  }
});
