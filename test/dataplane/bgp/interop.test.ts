// BGP mode against a real router (issue 14): BIRD 2 in a router namespace, and three LB nodes each running FRR
// under deploy/frr/frr-guard.sh, on one L2 segment, all iBGP in AS 64512. The test process drives every node's FRR
// through the speaker's own Frr class (vtysh and frr-reload.py talk over unix sockets, so no process needs to run
// inside a node namespace) with hand-written configurations, and checks what the router learns: ECMP across the
// nodes in its kernel table, communities and local preference, that adding a prefix resets no session, that a
// wrong password or ASN is reported in words, that the routes go away within seconds of the speaker's death (the
// alive FIFO), and that BFD notices a dead link in well under a second.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startBirdRouter, type BirdRouter } from '../../../lab/bird-router.ts';
import { eventually } from '../../../lab/eventually.ts';
import { startFrrNode, type FrrNode } from '../../../lab/frr.ts';
import { Ledger } from '../../../lab/ledger.ts';
import { L2Segment, Netns, run } from '../../../lab/netns.ts';
import { SetupStack } from '../../../lab/l2-topology.ts';
import { spawnTracked } from '../../../lab/process.ts';
import { createLogger } from '../../../src/shared/logger.ts';
import { Frr } from '../../../src/speaker/bgp/frr.ts';

const AS = 64512;
const ROUTER = '10.77.0.1';
const NODE_IPS = ['10.77.0.11', '10.77.0.12', '10.77.0.13'] as const;
const VIP = '192.0.2.10/32';
const VIP2 = '192.0.2.11/32';
const BFD = { rxMs: 100, txMs: 100, multiplier: 3 };
const logger = createLogger({ program: 'test', level: 'silent' });

interface NodeConfig {
  readonly routerId: string;
  readonly prefixes: readonly string[];
  readonly remoteAs?: number;
  readonly password?: string;
  /** BFD on the session (default on). */
  readonly bfd?: boolean;
}

/** What the speaker will render, written by hand: one iBGP neighbor with BFD, VIPs with community and local-pref. */
function frrConfig(c: NodeConfig): string {
  const n = `neighbor ${ROUTER}`;
  return [
    'frr defaults traditional',
    'bfd',
    ' profile kube-lb',
    `  receive-interval ${BFD.rxMs}`,
    `  transmit-interval ${BFD.txMs}`,
    `  detect-multiplier ${BFD.multiplier}`,
    ' exit',
    'exit',
    `router bgp ${AS}`,
    ` bgp router-id ${c.routerId}`,
    ' bgp graceful-restart-disable',
    ' no bgp ebgp-requires-policy',
    ' no bgp network import-check',
    ` ${n} remote-as ${c.remoteAs ?? AS}`,
    ` ${n} timers connect 1`,
    ...(c.password === undefined ? [] : [` ${n} password ${c.password}`]),
    ...(c.bfd === false ? [] : [` ${n} bfd`, ` ${n} bfd profile kube-lb`]),
    ' address-family ipv4 unicast',
    ...c.prefixes.map((p) => `  network ${p} route-map kube-lb-vip`),
    ' exit-address-family',
    'exit',
    'route-map kube-lb-vip permit 10',
    ` set community ${AS}:100`,
    ' set local-preference 200',
    'exit',
  ].join('\n');
}

const sorted = (xs: readonly string[]): string[] => [...xs].sort();

t.test('FRR nodes under frr-guard.sh and a BIRD 2 router', async (t) => {
  const ledger = Ledger.open('bgp-interop');
  // Undone in reverse: the daemons before their directories and namespaces.
  const setup = new SetupStack();
  t.teardown(() => setup.unwind());
  const destroy = (x: { destroy(): Promise<void> }): Promise<void> => x.destroy();
  const stop = (x: { stop(): Promise<void> }): Promise<void> => x.stop();
  const segment = await setup.step(L2Segment.create(ledger, 'bgsw'), destroy);
  const routerNs = await setup.step(Netns.create(ledger, 'bgr'), destroy);
  await segment.attach(routerNs, `${ROUTER}/24`);
  const nodeNs: Netns[] = [];
  for (const [i, ip] of NODE_IPS.entries()) {
    const ns = await setup.step(Netns.create(ledger, `bgn${i}`), destroy);
    await segment.attach(ns, `${ip}/24`);
    nodeNs.push(ns);
  }

  const routerPeers = [
    { address: NODE_IPS[0], as: AS, bfd: true },
    { address: NODE_IPS[1], as: AS, bfd: true },
    { address: NODE_IPS[2], as: AS, password: 'right' },
  ];
  const router: BirdRouter = await setup.step(
    startBirdRouter({
      ledger,
      netns: routerNs,
      routerId: ROUTER,
      localAs: AS,
      peers: routerPeers,
      exportPrefixes: ['10.99.0.0/24'],
      bfd: BFD,
    }),
    stop,
  );
  const nodes: FrrNode[] = [];
  for (const [i, ns] of nodeNs.entries()) {
    const node = await setup.step(startFrrNode({ ledger, netns: ns, name: `lb-${i + 1}` }), stop);
    nodes.push(node);
  }
  const frr = nodes.map((n) => new Frr({ vtySocketDir: n.vtySocketDir, workDir: n.workDir, logger }));
  t.teardown(() => {
    // Kept on failure for a post-mortem: where the logs were.
    if (t.passing()) return;
    t.comment(`logs: ${router.logFile} ${nodes.map((n) => n.logFile).join(' ')}`);
  });

  const [n1, n2, n3] = [0, 1, 2].map((i) => ({ frr: frr[i]!, node: nodes[i]!, ip: NODE_IPS[i]! }));
  await n1!.frr.apply(frrConfig({ routerId: n1!.ip, prefixes: [VIP] }));
  await n2!.frr.apply(frrConfig({ routerId: n2!.ip, prefixes: [VIP] }));
  await n3!.frr.apply(frrConfig({ routerId: n3!.ip, prefixes: [VIP], password: 'wrong' }));

  await t.test('the router installs one next hop per node (ECMP), with community and local preference', async (t) => {
    const hops = await eventually(
      `${VIP} with two next hops in the router's kernel table`,
      async () => {
        const h = sorted(await router.kernelNexthops(VIP));
        return h.length === 2 ? h : undefined;
      },
      30_000,
    );
    t.same(hops, [n1!.ip, n2!.ip], 'a multipath route through both nodes');
    const routes = await router.routes(VIP);
    t.same(
      sorted(routes.flatMap((r) => r.nexthops)),
      [n1!.ip, n2!.ip],
      "BIRD holds one route from each node's session",
    );
    for (const r of routes) {
      t.same(r.communities, [`${AS}:100`], `community from ${r.from}`);
      t.equal(r.localPref, 200, `local preference from ${r.from} (iBGP carries it)`);
      t.equal(r.asPath, '', 'an iBGP route has an empty AS path');
    }
    const neighbors = await n1!.frr.neighbors();
    t.equal(neighbors.length, 1, 'one neighbor');
    t.match(neighbors[0], { peer: ROUTER, state: 'Established', prefixesSent: 1, lastError: undefined });
    const bfd = await n1!.frr.bfdPeers();
    t.match(bfd, [{ peer: ROUTER, status: 'Up' }], 'BFD to the router is up');
    const caps = (await router.protocols()).find((p) => p.peer === n1!.ip)!.neighborCaps;
    t.comment(`the router sees lb-1's capabilities: ${caps.join(' ')}`);
    t.ok(caps.length > 0, 'the router lists them');
    t.notOk(
      caps.some((c) => /graceful restart/i.test(c)),
      'no graceful-restart capability: the router, a helper, keeps nothing of a node that goes',
    );
  });

  await t.test('adding a prefix resets no session', async (t) => {
    const before = (await n1!.frr.neighbors())[0]!;
    const birdBefore = (await router.protocols()).find((p) => p.peer === n1!.ip)!;
    t.equal(birdBefore.bgpState, 'Established');
    await n1!.frr.apply(frrConfig({ routerId: n1!.ip, prefixes: [VIP, VIP2] }));
    const routes = await eventually(`${VIP2} at the router`, async () => {
      const r = await router.routes(VIP2);
      return r.length > 0 ? r : undefined;
    });
    t.same(
      routes.flatMap((r) => r.nexthops),
      [n1!.ip],
      'the new prefix arrives through the existing session',
    );
    const after = (await n1!.frr.neighbors())[0]!;
    const birdAfter = (await router.protocols()).find((p) => p.peer === n1!.ip)!;
    t.equal(after.state, 'Established');
    t.equal(after.establishedTransitions, before.establishedTransitions, "FRR's established count is unchanged");
    t.ok(after.uptimeMs >= before.uptimeMs, `FRR's uptime kept growing (${before.uptimeMs} → ${after.uptimeMs} ms)`);
    t.equal(after.prefixesSent, 2, 'two prefixes sent');
    t.equal(birdAfter.since, birdBefore.since, "BIRD's session has not changed state since before the apply");
    t.same(sorted(await router.kernelNexthops(VIP)), [n1!.ip, n2!.ip], 'the first prefix kept both paths');
  });

  await t.test('a wrong password or a wrong ASN is not Established, and says why', async (t) => {
    const withPassword = await eventually(
      'the wrong-password session to be reported',
      async () => {
        const n = (await n3!.frr.neighbors())[0];
        return n?.lastError ? n : undefined;
      },
      10_000,
    );
    t.not(withPassword.state, 'Established', `wrong password: ${withPassword.state}`);
    t.match(withPassword.lastError, /TCP-MD5/, `reason: ${withPassword.lastError}`);

    const since = (await router.protocols()).find((p) => p.peer === n1!.ip)!.since;
    await router.setPeers([routerPeers[0]!, routerPeers[1]!, { address: n3!.ip, as: AS + 1 }]);
    await n3!.frr.apply(frrConfig({ routerId: n3!.ip, prefixes: [VIP] }));
    const wrongAs = await eventually(
      'the wrong-ASN session to be reported',
      async () => {
        const n = (await n3!.frr.neighbors())[0];
        return n?.lastError?.includes('NOTIFICATION') ? n : undefined;
      },
      20_000,
    );
    t.not(wrongAs.state, 'Established', `wrong ASN: ${wrongAs.state}`);
    t.match(wrongAs.lastError, /Bad Peer AS/i, `reason: ${wrongAs.lastError}`);
    t.same(
      sorted((await router.routes(VIP)).flatMap((r) => r.nexthops)),
      [n1!.ip, n2!.ip],
      'the router has no route from the misconfigured node',
    );
    t.equal(
      (await router.protocols()).find((p) => p.peer === n1!.ip)!.since,
      since,
      "reconfiguring the router left the other nodes' sessions alone",
    );
  });

  await t.test("BFD: a node's link going down drops its next hop in well under a second", async (t) => {
    t.match(await n2!.frr.bfdPeers(), [{ peer: ROUTER, status: 'Up' }], 'BFD up on lb-2');
    const started = performance.now();
    await nodeNs[1]!.ip('link', 'set', 'eth0', 'down');
    await eventually(
      "lb-2's next hop to leave the router's kernel table",
      async () => {
        const h = await router.kernelNexthops(VIP);
        return (h.length === 1 && h[0] === n1!.ip) || undefined;
      },
      10_000,
      10,
    );
    const ms = performance.now() - started;
    t.comment(
      `BFD ${BFD.txMs} ms × ${BFD.multiplier}: the router dropped lb-2's next hop ${ms.toFixed(0)} ms after its link went down`,
    );
    t.ok(ms < 3000, `detected in ${ms.toFixed(0)} ms (< 3000; BGP's hold timer alone would take 180 s)`);
    const lost = (await router.protocols()).find((p) => p.peer === n2!.ip)!;
    t.not(lost.bgpState, 'Established', `the router's session to lb-2 is down (${lost.lastError ?? lost.bgpState})`);
  });

  await t.test("the speaker's death (SIGKILL) withdraws its node's routes within seconds", async (t) => {
    const script = [
      `import { Frr } from ${JSON.stringify(join(import.meta.dirname, '../../../src/speaker/bgp/frr.ts'))};`,
      `import { createLogger } from ${JSON.stringify(join(import.meta.dirname, '../../../src/shared/logger.ts'))};`,
      `const frr = new Frr({ vtySocketDir: ${JSON.stringify(n1!.node.vtySocketDir)}, workDir: ${JSON.stringify(n1!.node.workDir)}, logger: createLogger({ program: 'holder', level: 'silent' }) });`,
      `await frr.holdAlive(${JSON.stringify(n1!.node.aliveFifo)});`,
      "console.log('held');",
      'setInterval(() => {}, 1 << 30);',
    ].join('\n');
    const holder = spawnTracked(ledger, 'alive-holder', process.execPath, ['--input-type=module', '-e', script], {
      logFile: join(n1!.node.dir, 'holder.log'),
    });
    t.teardown(() => holder.kill());
    await eventually('the holder to hold the FIFO', async () => {
      return readFileSync(holder.logFile, 'utf8').includes('held') || undefined;
    });
    t.same(
      (await router.routes(VIP)).flatMap((r) => r.nexthops),
      [n1!.ip],
      'lb-1 announces the VIP',
    );

    const started = performance.now();
    await holder.kill();
    await eventually(
      "lb-1's routes to leave the router",
      async () => (await router.routes(VIP)).length === 0 && (await router.routes(VIP2)).length === 0,
      15_000,
      20,
    );
    const ms = performance.now() - started;
    t.comment(`the router withdrew lb-1's routes ${ms.toFixed(0)} ms after the FIFO holder was SIGKILLed`);
    t.ok(ms < 5000, `withdrawn in ${ms.toFixed(0)} ms (< 5000)`);
    t.same(await router.kernelNexthops(VIP), [], "nothing left in the router's kernel table");
    // FRR closes the BFD session and sends a Cease NOTIFICATION as it deletes the peer; BIRD reports whichever
    // it heard first.
    const session = (await router.protocols()).find((p) => p.peer === n1!.ip)!;
    t.not(session.bgpState, 'Established', `the router's session to lb-1 closed: ${session.lastError}`);
    t.notMatch(await n1!.node.vtysh('show running-config'), /router bgp/, "FRR's BGP configuration is gone");

    // The guard waits for the next speaker: a new holder and an apply bring the node back.
    const again = spawnTracked(ledger, 'alive-holder-2', process.execPath, ['--input-type=module', '-e', script], {
      logFile: join(n1!.node.dir, 'holder-2.log'),
    });
    t.teardown(() => again.kill());
    // This time without BFD, so that only the guard's Cease NOTIFICATION can end the router's session.
    await n1!.frr.apply(frrConfig({ routerId: n1!.ip, prefixes: [VIP], bfd: false }));
    await eventually(
      'lb-1 back at the router',
      async () => (await router.routes(VIP)).length === 1 || undefined,
      30_000,
    );
    t.pass('a restarted speaker announces again');
    await eventually(
      'the holder to hold the FIFO',
      async () => readFileSync(again.logFile, 'utf8').includes('held') || undefined,
    );
    const startedAgain = performance.now();
    await again.kill();
    await eventually('lb-1 withdrawn again', async () => (await router.routes(VIP)).length === 0, 15_000, 20);
    const msAgain = performance.now() - startedAgain;
    t.comment(`without BFD: withdrawn ${msAgain.toFixed(0)} ms after the second holder was SIGKILLed`);
    t.ok(msAgain < 5000, `withdrawn in ${msAgain.toFixed(0)} ms (< 5000)`);
    const closed = (await router.protocols()).find((p) => p.peer === n1!.ip)!;
    t.match(closed.lastError, /Received: .*(Cease|shutdown|deconfigured)/i, `by NOTIFICATION: ${closed.lastError}`);
  });

  await t.test('SIGTERM stops FRR and the guard exits 0', async (t) => {
    await n3!.node.process.stop();
    t.equal(await n3!.node.process.exited, 0, 'frr-guard.sh exited 0');
    // Orphans the guard killed are reaped by init, not by the guard: give that a moment.
    const left = await eventually(
      "lb-3's namespace to empty",
      async () => ((await run('ip', ['netns', 'pids', n3!.node.netns.name])).trim() === '' ? 'empty' : undefined),
      3000,
    ).catch(async () => run('ip', ['netns', 'pids', n3!.node.netns.name]));
    t.equal(left, 'empty', "nothing is left in lb-3's namespace");
  });
});
