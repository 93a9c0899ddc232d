// `npm run demo`: the main job, on this machine. Brings up the end-to-end topology (lab/topology.ts:
// a client, three LB nodes each running a real cilium-agent as its datapath, two consumer nodes each running a
// real kube-proxy and a backend pod, an LB cluster and a consumer cluster, the allocator, the agent and three
// speakers as real processes), creates a LoadBalancer Service in the consumer cluster, shows its EXTERNAL-IP and
// EndpointSlice, curls it from the client, shows which LB node answers ARP for the VIP, then keeps running with
// instructions until Ctrl-C, and removes everything.
//   npm run demo -- --once              the walk-through only; exits 0 only if traffic flowed through the VIP
//   npm run demo -- --cilium 1.19       another real Cilium line (default the newest)
//   npm run demo -- --datapath mimic    the test tc program instead of Cilium: a quick look, not proof
//   npm run demo -- --kubernetes v1.24  the consumer cluster on an older Kubernetes line (test/compat/lines.json)
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cleanupStale } from '../lab/cleanup-stale.ts';
import { Ledger } from '../lab/ledger.ts';
import { parseAnswer } from '../lab/backend-pod.ts';
import { BACKEND_LABELS, eventually, Topology } from '../lab/topology.ts';
import { datapathFlags, describeTopology } from './topology.ts';

const execFileAsync = promisify(execFile);
const once = process.argv.includes('--once');
const TENANT = 'c1';
const SERVICE = 'web';
const BACKEND_SELECTOR = Object.entries(BACKEND_LABELS)
  .map(([k, v]) => `${k}=${v}`)
  .join(',');

function step(text: string): void {
  console.log(`\n== ${text}`);
}

async function curl(topo: Topology, vip: string): Promise<{ ok: boolean; text: string }> {
  try {
    const { stdout } = await execFileAsync('ip', [
      'netns',
      'exec',
      topo.client.name,
      'curl',
      '-s',
      '-m',
      '2',
      `http://${vip}/`,
    ]);
    return { ok: stdout.trim() !== '', text: stdout.trim() };
  } catch (err) {
    return { ok: false, text: `curl failed: ${(err as Error).message.split('\n')[0]}` };
  }
}

async function walkThrough(topo: Topology): Promise<{ vip: string; flowed: boolean }> {
  const kubectlLb = `kubectl --kubeconfig ${topo.lb.kubeconfigPath}`;
  const kubectlC1 = `kubectl --kubeconfig ${topo.tenant(TENANT).cluster.kubeconfigPath}`;

  step(
    `creating a type: LoadBalancer Service in the consumer cluster, selecting the backend pods (${BACKEND_SELECTOR})`,
  );
  const created = Date.now();
  await topo.createService(TENANT, SERVICE, [{ name: 'http', protocol: 'TCP', port: 80 }], {}, { waitProxied: false });
  const vip = await topo.waitExternalIP(TENANT, SERVICE, 60_000);
  console.log(`EXTERNAL-IP ${vip} after ${Date.now() - created} ms`);
  await topo.waitProxied(TENANT, SERVICE).catch(() => undefined);
  console.log(
    `kube-proxy on every consumer node forwards its NodePort to both pods after ${Date.now() - created} ms\n`,
  );
  console.log(`$ ${kubectlC1} get svc -o wide`);
  console.log(topo.kubectlGetServices(TENANT).trimEnd());
  const pods = topo.tenant(TENANT).nodes.map((n) => n.pod.ip);
  const slices = await eventually(
    'the EndpointSlice',
    async () => {
      const out = topo.kubectlGetEndpointSlices(TENANT);
      return pods.every((ip) => out.includes(ip)) ? out : undefined;
    },
    30_000,
    200,
  ).catch(() => topo.kubectlGetEndpointSlices(TENANT));
  console.log(
    `\n$ ${kubectlC1} get endpointslices -o wide   # the backend pods, one per node; kube-proxy on each node serves the NodePorts`,
  );
  console.log(slices.trimEnd());

  step(`curl from the client namespace (${topo.client.name}, 198.51.100.1) to http://${vip}/`);
  await eventually('the first answer through the VIP', async () => (await curl(topo, vip)).ok, 60_000, 200).catch(
    () => undefined,
  );
  const seen = new Set<string>();
  let ok = 0;
  let failed = 0;
  for (let i = 0; i < 40 && (i < 8 || seen.size < 2); i++) {
    const r = await curl(topo, vip);
    console.log(`$ curl http://${vip}/   → ${r.text}`);
    if (r.ok) {
      ok++;
      const a = parseAnswer(r.text);
      if (a) seen.add(a.node);
    } else failed++;
  }
  console.log(
    `${ok} answered, ${failed} failed; consumer nodes whose pod answered: ${[...seen].sort().join(', ') || 'none'}`,
  );
  console.log(
    "(from= is the source the pod saw: the Service is externalTrafficPolicy Cluster, so kube-proxy on the node the LB node picked masqueraded the flow, to its pod-side address or, when it sent the flow to the other node's pod, to its node address)",
  );

  step('which LB node owns the VIP');
  const owner = await eventually('the speakers to agree on an owner', () => topo.announcedOwner(vip), 30_000).catch(
    () => undefined,
  );
  const arp = await topo.arpOwner(vip);
  const node = owner ? topo.lbNode(owner) : undefined;
  console.log(`the speakers agree: ${owner ?? 'no owner'} answers ARP for ${vip}${node ? ` (MAC ${node.mac})` : ''}`);
  console.log(`the client's neighbour table resolves ${vip} to ${arp ?? 'nothing'}`);
  if (node?.cilium) {
    step(`what Cilium's own tool reads in ${owner}'s maps (cilium-dbg ${topo.cilium?.version} bpf lb list)`);
    const listing = await node.cilium
      .dbg(['bpf', 'lb', 'list'])
      .catch((e: unknown) => `cilium-dbg failed: ${String(e)}`);
    const lines = listing.split('\n');
    console.log([lines[0], ...lines.filter((l) => l.includes(vip)).sort()].join('\n'));
  }
  // The speakers' status converges within a few seconds (published node state and status writes are rate-limited).
  const settled = (c: Awaited<ReturnType<Topology['claimOf']>>): boolean =>
    ['Programmed', 'Announced', 'BackendsHealthy'].every((type) =>
      c?.status?.conditions?.some((x) => x.type === type && x.status === 'True'),
    ) && c?.status?.conditions?.find((x) => x.type === 'Programmed')?.reason === 'Programmed';
  const claim = await eventually(
    'the claim status to settle',
    async () => {
      const c = await topo.claimOf(TENANT, SERVICE);
      return settled(c) ? c : undefined;
    },
    20_000,
    250,
  ).catch(() => topo.claimOf(TENANT, SERVICE));
  console.log(`$ ${kubectlLb} get vipclaims -n ${topo.tenant(TENANT).tenantNamespace} ${claim?.metadata.name ?? ''}`);
  for (const c of claim?.status?.conditions ?? [])
    console.log(`  ${c.type.padEnd(16)} ${c.status.padEnd(6)} ${c.reason}: ${c.message}`);
  return { vip, flowed: ok > 0 && failed === 0 && seen.size === topo.tenant(TENANT).nodes.length };
}

function instructions(topo: Topology, vip: string): string {
  const c1 = topo.tenant(TENANT);
  const owner = topo.lbNodes[0]!;
  return [
    'The demo keeps running. Try:',
    `  export PATH=${process.env.KUBE_LB_CONTROLPLANE_BIN ?? '<control-plane bin dir>'}:$PATH   # kubectl`,
    `  watch traffic:   ip netns exec ${topo.client.name} sh -c 'while :; do curl -s -m1 http://${vip}/ || echo FAIL; sleep 0.2; done'`,
    `  add a Service:   kubectl --kubeconfig ${c1.cluster.kubeconfigPath} create service loadbalancer api --tcp=8080:20080`,
    `                   kubectl --kubeconfig ${c1.cluster.kubeconfigPath} set selector svc api ${BACKEND_SELECTOR}   # the backend pods answer on its target port`,
    `                   kubectl --kubeconfig ${c1.cluster.kubeconfigPath} get svc -w`,
    `  claims:          kubectl --kubeconfig ${topo.lb.kubeconfigPath} get vipclaims -A -o wide`,
    `  speaker state:   curl -s --unix-socket ${owner.stateSocket} http://x/state`,
    '  kill a node (the owner of a VIP: see "announcedVIPs" in its state):',
    ...topo.lbNodes.map(
      (n) =>
        `    ${n.name}:  kill -9 ${n.speaker?.child.pid ?? '?'}  # its speaker; then crash the node:  ip -n ${n.ns.name} link set eth0 down; ip -n ${n.ns.name} link set eth1 down`,
    ),
    `  stop a node:     kill ${c1.nodes[1]?.kubeProxy?.process?.child.pid ?? '?'}; ip netns exec ${c1.nodes[1]?.ns.name} ${c1.nodes[1]?.kubeProxy?.binary} --cleanup --proxy-mode=${c1.nodes[1]?.kubeProxy?.mode}   # ${c1.nodes[1]?.name}'s kube-proxy and its rules: its NodePorts close, health checks take it out`,
    ...(owner.cilium
      ? [
          `  Cilium's view:   nsenter -t ${owner.cilium.process?.child.pid ?? '?'} -m -n ${owner.cilium.options.build.dbg} bpf lb list   # ${owner.name}'s agent; its log: ${owner.cilium.logFile}`,
        ]
      : []),
    '',
    describeTopology(topo),
    '',
    'Ctrl-C stops the demo and removes everything it created.',
  ].join('\n');
}

/** The end of every program's log, since the log directory goes away with the topology. */
function printLogTails(dir: string): void {
  for (const f of readdirSync(dir)
    .filter((x) => x.endsWith('.log'))
    .sort()) {
    const lines = readFileSync(join(dir, f), 'utf8').trimEnd().split('\n').slice(-15);
    console.error(`--- ${f}\n${lines.join('\n')}`);
  }
}

async function main(): Promise<number> {
  cleanupStale();
  const ledger = Ledger.open('demo');
  step('bringing the topology up');
  const datapath = datapathFlags(process.argv.slice(2));
  const topo = await Topology.up(ledger, {
    label: 'demo',
    tenants: [{ name: TENANT }],
    ...datapath,
    progress: (l) => console.log(`- ${l}`),
  });
  if (topo.cilium)
    console.log(
      `- the LB nodes' datapath: cilium-agent ${topo.cilium.version}, built from the github.com/cilium/cilium Go module`,
    );
  let stopping = false;
  const stop = async (code: number): Promise<never> => {
    if (!stopping) {
      stopping = true;
      console.log('\nremoving everything the demo created');
      await topo.down();
      rmSync(ledger.dir, { recursive: true, force: true });
    }
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  let result: { vip: string; flowed: boolean };
  try {
    result = await walkThrough(topo);
  } catch (err) {
    console.error(`the walk-through failed: ${err instanceof Error ? err.message : String(err)}`);
    printLogTails(topo.logDir);
    return stop(1);
  }
  if (once) {
    console.log(result.flowed ? '\ntraffic flowed through the VIP: OK' : '\ntraffic did not flow through the VIP');
    if (!result.flowed) printLogTails(topo.logDir);
    return stop(result.flowed ? 0 : 1);
  }
  console.log(`\n${instructions(topo, result.vip)}`);
  return new Promise<number>(() => undefined);
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
