// The whole system in network namespaces (lab/topology.ts): two consumer clusters (tenants c1 and c2),
// an LB cluster, the allocator, one agent per tenant and three speakers as real processes, a client on the LB
// segment; on every consumer node a real kube-proxy and a backend pod published through EndpointSlices. One topology is shared by the stories below, which run in order: each leaves the system as the next
// one expects it. Every wait polls with a generous deadline; nothing asserts on timings.
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import type { VIPClaim, VIPPool } from '../../src/api/v1alpha1.ts';
import { resourceClient } from '../../src/kube/custom-objects.ts';
import { eventually } from '../../lab/eventually.ts';
import { Ledger } from '../../lab/ledger.ts';
import { parseAnswer } from '../../lab/backend-pod.ts';
import { Topology, type ConsumerNode } from '../../lab/topology.ts';

const ledger = Ledger.open('e2e-system');
/** The client loop's request timeout. */
const LOOP_TIMEOUT_MS = 1000;
const topo = await Topology.up(ledger, {
  label: 'e2e-system',
  tenants: [{ name: 'c1' }, { name: 'c2' }],
  speakerArgs: [
    '--health-interval=300ms',
    '--health-timeout=500ms',
    '--health-rise=2',
    '--health-fall=2',
    '--lease-duration=3s',
    '--renew-period=500ms',
    '--status-min-interval=300ms',
    '--state-min-interval=300ms',
  ],
});
t.teardown(() => topo.down());

const claims = resourceClient<VIPClaim>(topo.lb.kubeConfig, 'VIPClaim');
const pools = resourceClient<VIPPool>(topo.lb.kubeConfig, 'VIPPool');

/** Sends `n` requests and counts answers by consumer node; every one must succeed. */
async function spread(t: Test, proto: 'tcp' | 'udp', vip: string, port: number, n = 16): Promise<Map<string, number>> {
  const byNode = new Map<string, number>();
  const failed: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await topo.request(proto, vip, port, 2000);
    const a = r.ok ? parseAnswer(r.text) : undefined;
    if (a) byNode.set(a.node, (byNode.get(a.node) ?? 0) + 1);
    else failed.push(r.text);
  }
  t.same(failed, [], `${n} ${proto} requests to ${vip}:${port} all answered`);
  return byNode;
}

function condition(c: VIPClaim | undefined, type: string): { status: string; reason: string } | undefined {
  return c?.status?.conditions?.find((x) => x.type === type);
}

/** Every running speaker's plan: is `address` selected (gets new flows) for `frontend`? */
async function selectedEverywhere(frontend: string, address: string): Promise<boolean[]> {
  const out: boolean[] = [];
  for (const n of topo.lbNodes) {
    if (!n.speaker || n.speaker.child.exitCode !== null || n.speaker.child.signalCode !== null) continue;
    const s = await topo.speakerState(n.name);
    const port = s.claims.flatMap((c) => c.ports ?? []).find((p) => p.frontend === frontend);
    out.push(port?.backends.find((b) => b.address === address)?.selected ?? false);
  }
  return out;
}

let vip1 = '';

t.test(
  'a multi-port Service gets an EXTERNAL-IP and answers on every port, TCP and UDP, from both nodes',
  async (t) => {
    await topo.createService('c1', 'multi', [
      { name: 'http', protocol: 'TCP', port: 80 },
      { name: 'alt', protocol: 'TCP', port: 8080 },
      { name: 'dns', protocol: 'UDP', port: 53 },
    ]);
    vip1 = await topo.waitExternalIP('c1', 'multi');
    t.match(vip1, /^198\.51\.100\.2\d\d$/, 'the VIP comes from the pool on the client segment');
    t.match(
      topo.kubectlGetServices('c1'),
      new RegExp(`multi\\s+LoadBalancer\\s+\\S+\\s+${vip1.replace(/\./g, '\\.')}`),
      'kubectl get svc shows it',
    );
    const pods = topo.tenant('c1').nodes.map((n) => n.pod.ip);
    const slices = await eventually(
      'the EndpointSlice lists both backend pods',
      async () => {
        const out = topo.kubectlGetEndpointSlices('c1');
        return pods.every((ip) => out.includes(ip)) ? out : undefined;
      },
      30_000,
    );
    t.match(slices, /^multi-\S+\s+IPv4\s/m, `kubectl get endpointslices shows the backend pods ${pods.join(', ')}`);
    for (const [proto, port] of [
      ['tcp', 80],
      ['tcp', 8080],
      ['udp', 53],
    ] as const) {
      const first = await topo.requestUntilOk(proto, vip1, port, 60_000);
      t.match(
        parseAnswer(first.text),
        { service: 'default/multi', port: `${port}/${proto.toUpperCase()}` },
        `${proto}/${port} reaches the right Service port`,
      );
      const byNode = await spread(t, proto, vip1, port);
      t.same([...byNode.keys()].sort(), ['c1-a', 'c1-b'], `${proto}/${port} is answered by both consumer nodes`);
    }
    const claim = await eventually(
      'the claim status from the speakers',
      async () => {
        const c = await topo.claimOf('c1', 'multi');
        return condition(c, 'Programmed')?.reason === 'Programmed' &&
          condition(c, 'Announced')?.status === 'True' &&
          condition(c, 'BackendsHealthy')?.status === 'True'
          ? c
          : undefined;
      },
      60_000,
    );
    t.same(claim.status?.programmedNodes, ['lb-1', 'lb-2', 'lb-3'], 'every LB node holds it');
    t.equal(
      claim.status?.announcedBy,
      await topo.announcedOwner(vip1),
      'the status names the node the speakers agree on',
    );
  },
);

t.test('two tenants get distinct VIPs and each reaches only its own backends', async (t) => {
  await topo.createService('c2', 'web', [{ name: 'http', protocol: 'TCP', port: 80 }]);
  const vip2 = await topo.waitExternalIP('c2', 'web');
  t.not(vip2, vip1, 'distinct VIPs');
  await topo.requestUntilOk('tcp', vip2, 80, 60_000);
  const c2 = await spread(t, 'tcp', vip2, 80);
  t.same([...c2.keys()].sort(), ['c2-a', 'c2-b'], "c2's VIP reaches c2's nodes only");
  const c1 = await spread(t, 'tcp', vip1, 80);
  t.same([...c1.keys()].sort(), ['c1-a', 'c1-b'], "c1's VIP reaches c1's nodes only");
  const claim = await topo.claimOf('c2', 'web');
  t.same(claim?.spec.backends.map((b) => b.address).sort(), ['10.200.2.11', '10.200.2.12']);
});

t.test(
  'a consumer node stops serving (pod and kube-proxy gone): health checks take it out, no request fails after that',
  async (t) => {
    const frontend = `${vip1}:80/TCP`;
    const c1b = topo.tenant('c1').nodes[1]!;
    await topo.startLoop('tcp', vip1, 80, 40, LOOP_TIMEOUT_MS);
    await topo.stopConsumerNode('c1', c1b.name);
    // The detection window is over when every speaker has taken c1-b out of selection.
    await eventually(
      'c1-b out of selection on every LB node',
      async () => (await selectedEverywhere(frontend, c1b.ip)).every((s) => !s),
      60_000,
      100,
    );
    // A request sent just before that may still be on its way to c1-b and fail at its timeout: the window ends
    // one timeout later.
    await sleep(LOOP_TIMEOUT_MS + 100);
    const atDetection = await topo.loop();
    t.comment(`requests failed before detection: ${atDetection.fail} of ${atDetection.ok + atDetection.fail}`);
    const after = await eventually(
      '50 more requests',
      async () => {
        const l = await topo.loop();
        return l.ok >= atDetection.ok + 50 ? l : undefined;
      },
      60_000,
      100,
    );
    t.equal(
      after.fail,
      atDetection.fail,
      `no request failed after the detection window${after.lastError ? ` (last error: ${after.lastError})` : ''}`,
    );
    const claim = await eventually(
      'BackendsHealthy=False naming c1-b',
      async () => {
        const c = await topo.claimOf('c1', 'multi');
        return condition(c, 'BackendsHealthy')?.reason === 'SomeUnhealthy' ? c : undefined;
      },
      30_000,
    );
    t.match(
      claim.status?.backendHealth?.find((b) => b.address === c1b.ip),
      { healthy: false, failingFrom: ['lb-1', 'lb-2', 'lb-3'] },
    );

    // Every backend failing: the last selected set (c1-a) keeps the traffic rather than nothing.
    const c1a = topo.tenant('c1').nodes[0]!;
    await topo.stopLoop();
    await topo.stopConsumerNode('c1', c1a.name);
    const kept = await eventually(
      'every speaker keeps the last set',
      async () => {
        const states = await Promise.all(topo.lbNodes.map((n) => topo.speakerState(n.name)));
        const ports = states.map((s) => s.claims.flatMap((c) => c.ports ?? []).find((p) => p.frontend === frontend));
        return ports.every((p) => p?.selection === 'AllUnhealthyKeptLast') ? ports : undefined;
      },
      60_000,
      100,
    );
    t.same(
      kept[0]?.backends.map((b) => [b.node, b.selected]),
      [
        ['c1-a', true],
        ['c1-b', false],
      ],
      'c1-a, selected last, stays selected',
    );
    await eventually(
      'BackendsHealthy=False/AllUnhealthy',
      async () => condition(await topo.claimOf('c1', 'multi'), 'BackendsHealthy')?.reason === 'AllUnhealthy',
      30_000,
    );
    await topo.startConsumerNode('c1', c1a.name);
    await topo.requestUntilOk('tcp', vip1, 80, 60_000);
    await topo.startLoop('tcp', vip1, 80, 40, 1000);

    await topo.startConsumerNode('c1', c1b.name);
    await eventually(
      'c1-b back in selection everywhere',
      async () => (await selectedEverywhere(frontend, c1b.ip)).every((s) => s),
      60_000,
      100,
    );
    await eventually(
      'BackendsHealthy=True again',
      async () => condition(await topo.claimOf('c1', 'multi'), 'BackendsHealthy')?.status === 'True',
      30_000,
    );
    await eventually('c1-b answers again', async () => (await spread(t, 'tcp', vip1, 80, 8)).has('c1-b'), 30_000);
    await topo.stopLoop();
  },
);

t.test("eTP Local is checked with HTTP /healthz on kube-proxy's healthCheckNodePort", async (t) => {
  const [c1a, c1b] = topo.tenant('c1').nodes as [ConsumerNode, ConsumerNode];
  await topo.createService('c1', 'local', [{ name: 'http', protocol: 'TCP', port: 80 }], {
    externalTrafficPolicy: 'Local',
  });
  const vip = await topo.waitExternalIP('c1', 'local');
  await topo.requestUntilOk('tcp', vip, 80, 60_000);
  const hc = (await topo.tenant('c1').core.readNamespacedService({ namespace: 'default', name: 'local' })).spec
    ?.healthCheckNodePort;
  t.ok(hc, 'the consumer API server allocated a healthCheckNodePort');
  const httpTargets = async (): Promise<Map<string, string>> => {
    const s = await topo.speakerState('lb-1');
    return new Map(
      s.health
        .filter((h) => h.key.startsWith('http://') && h.key.endsWith(`:${hc}/healthz`))
        .map((h) => [h.key, h.state]),
    );
  };
  const key = (n: ConsumerNode): string => `http://${n.ip}:${hc}/healthz`;
  await eventually(
    'HTTP targets healthy on lb-1',
    async () => {
      const m = await httpTargets();
      return (m.size === 2 && [...m.values()].every((s) => s === 'healthy')) || undefined;
    },
    30_000,
  );
  const served = await c1a.kubeProxy!.get(`http://${c1b.ip}:${hc}/healthz`);
  t.equal(served.status, 200, "c1-b's kube-proxy answers 200 on the healthCheckNodePort");
  t.match(
    JSON.parse(served.body),
    { service: { namespace: 'default', name: 'local' }, localEndpoints: 1 },
    'with its local endpoint count',
  );
  const lbAddresses = topo.lbNodes.map((n) => n.backendIp);
  const answers = await Promise.all([1, 2, 3, 4].map(() => topo.request('tcp', vip, 80, 2000)));
  t.ok(
    answers.every((a) => a.ok && lbAddresses.includes(parseAnswer(a.text)?.from ?? '')),
    'eTP Local keeps the source: the pod sees the LB node that forwarded',
  );

  // The pod on c1-b turns not ready. The agent would drop c1-b from the claim as soon as the EndpointSlice says so;
  // with the agent stopped the claim stays as it is, and only kube-proxy's healthCheckNodePort can take c1-b out.
  await topo.tenant('c1').agent?.stop(3000);
  await topo.setPodReady('c1', c1b.name, false);
  const down = await c1a.kubeProxy!.get(`http://${c1b.ip}:${hc}/healthz`);
  t.equal(down.status, 503, "c1-b's kube-proxy answers 503 with no ready local endpoint");
  t.match(JSON.parse(down.body), { localEndpoints: 0 });
  await eventually(
    'c1-b unhealthy for the eTP Local Service on lb-1',
    async () => (await httpTargets()).get(key(c1b)) === 'unhealthy' || undefined,
    30_000,
  );
  await eventually(
    'no speaker selects c1-b for it',
    async () => (await selectedEverywhere(`${vip}:80/TCP`, c1b.ip)).every((s) => !s),
    30_000,
    100,
  );
  const byNode = await spread(t, 'tcp', vip, 80, 8);
  t.same([...byNode.keys()], ['c1-a'], 'every request answered on c1-a');
  await topo.startAgent('c1');
  const backends = async (): Promise<string[] | undefined> =>
    (await topo.claimOf('c1', 'local'))?.spec.backends.map((b) => b.nodeName).sort();
  await eventually(
    'the agent, back, drops c1-b from the claim',
    async () => (await backends())?.join() === 'c1-a' || undefined,
    30_000,
  );
  await topo.setPodReady('c1', c1b.name, true);
  await eventually(
    'c1-b back in the claim',
    async () => (await backends())?.join() === 'c1-a,c1-b' || undefined,
    30_000,
  );
  await eventually(
    'c1-b healthy again',
    async () => (await httpTargets()).get(key(c1b)) === 'healthy' || undefined,
    30_000,
  );
  await topo.deleteService('c1', 'local');
});

t.test('a consumer node removed: traffic continues on the other', async (t) => {
  const c1b = topo.tenant('c1').nodes[1]!;
  await topo.tenant('c1').core.deleteNode({ name: c1b.name });
  await eventually(
    'the claim drops c1-b',
    async () => {
      const c = await topo.claimOf('c1', 'multi');
      return c && c.spec.backends.length === 1 && c.spec.backends[0]!.nodeName === 'c1-a';
    },
    60_000,
  );
  await eventually(
    'no speaker sends new flows to c1-b',
    async () => (await selectedEverywhere(`${vip1}:80/TCP`, c1b.ip)).every((s) => !s),
    30_000,
  );
  // The node is gone for good: nothing answers on it any more.
  await topo.stopConsumerNode('c1', c1b.name);
  for (const [proto, port] of [
    ['tcp', 80],
    ['udp', 53],
  ] as const) {
    const byNode = await spread(t, proto, vip1, port, 12);
    t.same([...byNode.keys()], ['c1-a'], `${proto}/${port}: every request answered by c1-a`);
  }
});

t.test(
  "the owner's speaker restarts gracefully (SIGTERM): the VIP is handed over and back without an outage",
  async (t) => {
    const owner = await eventually('an agreed owner', () => topo.announcedOwner(vip1), 30_000);
    await topo.startLoop('tcp', vip1, 80, 40, 1000);
    await eventually('the loop runs', async () => (await topo.loop()).ok >= 10, 30_000);
    await topo.stopSpeaker(owner);
    await eventually(
      'another node took the VIP',
      async () => {
        const o = await topo.announcedOwner(vip1);
        return o !== undefined && o !== owner;
      },
      30_000,
    );
    topo.startSpeaker(owner);
    await topo.waitSpeakerReady(owner);
    await eventually(
      'the restarted speaker answers for the VIP again',
      async () => (await topo.announcedOwner(vip1)) === owner,
      60_000,
    );
    const mid = await topo.loop();
    await eventually('20 more requests', async () => (await topo.loop()).ok >= mid.ok + 20, 30_000);
    const tally = await topo.stopLoop();
    // A connection open at the instant the client's ARP entry flips lands on a node without its conntrack entry
    // (the LB nodes do not share flow state); a new connection never fails. One request is in flight at a time.
    t.ok(
      tally.fail <= 2,
      `${tally.fail} of ${tally.ok + tally.fail} requests failed across the two handovers (at most the one in flight at each ARP flip)`,
    );
  },
);

t.test('the owning LB node dies: traffic resumes through another LB node', async (t) => {
  // The Service is eTP Cluster, so kube-proxy masquerades and the pod cannot name the LB node; the client's
  // neighbour entry for the VIP, read right after an answered request, says which node carried it.
  const owner = await eventually('an agreed owner', () => topo.announcedOwner(vip1), 30_000);
  await topo.requestUntilOk('tcp', vip1, 80);
  t.equal(
    await topo.arpOwner(vip1),
    owner,
    `traffic flows through the owner ${owner}: the client's ARP entry points at it`,
  );
  const crashedAt = Date.now();
  await topo.crashNode(owner);
  await topo.requestUntilOk('tcp', vip1, 80, 60_000, 300);
  t.comment(`first successful request ${Date.now() - crashedAt} ms after the crash`);
  const survivor = await topo.arpOwner(vip1);
  t.ok(
    survivor && survivor !== owner,
    `traffic resumed through ${survivor}: the client now resolves the VIP to that node`,
  );
  const claim = await eventually(
    'the status names the new owner',
    async () => {
      const c = await topo.claimOf('c1', 'multi');
      if (!c?.status || c.status.announcedBy !== survivor || c.status.programmedNodes?.includes(owner))
        return undefined;
      return c;
    },
    60_000,
  );
  t.same(
    claim.status?.programmedNodes,
    topo.lbNodes.map((n) => n.name).filter((n) => n !== owner),
  );

  await topo.reviveNode(owner);
  topo.startSpeaker(owner);
  await topo.waitSpeakerReady(owner);
  await eventually(
    'all three speakers live again',
    async () => (await topo.speakerState(owner)).live.length === 3,
    60_000,
  );
  // The revived node takes its VIPs back (ownership follows the live set); a connection open at that ARP flip may
  // be reset, as in the graceful handover above, so the spread starts once the client resolves to the agreed owner.
  await eventually(
    'the client resolves the VIP to the owner all speakers agree on',
    async () => {
      const agreed = await topo.announcedOwner(vip1);
      return agreed !== undefined && (await topo.arpOwner(vip1)) === agreed;
    },
    30_000,
  );
  const byNode = await spread(t, 'tcp', vip1, 80, 8);
  t.same([...byNode.keys()], ['c1-a'], 'traffic flows after the node came back');
});

t.test('Service deleted: the VIP stops answering and returns to the pool', async (t) => {
  const allocated = async (): Promise<number | undefined> => (await pools.get('default')).status?.allocated;
  const before = await eventually('pool status', allocated, 30_000);
  await topo.deleteService('c1', 'multi');
  await eventually('the claim is gone', async () => (await topo.claimOf('c1', 'multi')) === undefined, 60_000);
  await eventually('the VIP stops answering', async () => !(await topo.request('tcp', vip1, 80, 300)).ok, 30_000);
  await eventually(
    'no speaker programs or announces it',
    async () => {
      for (const n of topo.lbNodes) {
        const s = await topo.speakerState(n.name);
        if (s.claims.some((c) => c.vip === vip1) || s.announcedVIPs.includes(vip1)) return false;
      }
      return true;
    },
    30_000,
  );
  const after = await eventually(
    'the pool counts one VIP less',
    async () => {
      const a = await allocated();
      return a !== undefined && a < before ? a : undefined;
    },
    30_000,
  );
  t.equal(after, before - 1, 'the VIP is free again');
  t.notOk(
    (await claims.list('tenant-c1')).items.some((c) => c.status?.vip === vip1),
    'no claim holds it',
  );
});
