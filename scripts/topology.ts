// The end-to-end topology (lab/topology.ts) as one command:
//   node scripts/topology.ts up [--tenants c1,c2] [--datapath cilium|mimic] [--cilium LINE] [--maglev] [--kubernetes v1.NN]
//       builds it, prints how to reach it, runs until Ctrl-C, removes it. --datapath cilium (the default) runs a
//       real cilium-agent of line LINE (default the newest, test/cilium/lines.json) on every LB node; --datapath
//       mimic runs the test tc program on maps laid out as Cilium LINE would (default 1.18): quick, not proof.
//       --kubernetes runs the consumer clusters on an older line of test/compat/lines.json.
//   node scripts/topology.ts down    removes what a killed run left
// Nothing is left behind: every namespace, mount, process and directory is in a ledger under /tmp/kube-lb-test.
import { rmSync } from 'node:fs';
import { cleanupStale } from '../lab/cleanup-stale.ts';
import { Ledger } from '../lab/ledger.ts';
import { CILIUM_LINES } from '../lab/cilium-agent.ts';
import { Topology, type TopologyOptions } from '../lab/topology.ts';
import { lineNamed } from '../lab/kubernetes-line.ts';
import { isCiliumVersion } from '../src/core/lb4/profile.ts';

function flag(argv: readonly string[], name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  return i === -1 ? undefined : argv[i + 1];
}

export const TOPOLOGY_USAGE = '[--tenants c1,c2] [--datapath cilium|mimic] [--cilium LINE] [--maglev]';

/** The datapath part of the topology options from the command line (shared by the demo and `topology up`). */
export function datapathFlags(
  argv: readonly string[],
): Pick<TopologyOptions, 'datapath' | 'ciliumLine' | 'ciliumVersion' | 'maglev' | 'consumerLine'> {
  const k8s = flag(argv, 'kubernetes');
  const consumer = k8s === undefined ? {} : { consumerLine: lineNamed(k8s, '--kubernetes') };
  return { ...datapathOnly(argv), ...consumer };
}

function datapathOnly(
  argv: readonly string[],
): Pick<TopologyOptions, 'datapath' | 'ciliumLine' | 'ciliumVersion' | 'maglev'> {
  const datapath = flag(argv, 'datapath') ?? 'cilium';
  const line = flag(argv, 'cilium');
  const maglev = argv.includes('--maglev');
  if (datapath === 'cilium') {
    if (line !== undefined && !CILIUM_LINES.includes(line))
      throw new Error(`--cilium ${line}: real Cilium lines are ${CILIUM_LINES.join(', ')}`);
    return { datapath, maglev, ...(line ? { ciliumLine: line } : {}) };
  }
  if (datapath === 'mimic') {
    const version = line ?? '1.18';
    if (!isCiliumVersion(version))
      throw new Error(`--cilium ${version}: not a Cilium version the mimic lays maps out for`);
    return { datapath, maglev, ciliumVersion: version };
  }
  throw new Error(`--datapath ${datapath}: use cilium or mimic`);
}

export function describeTopology(topo: Topology): string {
  const lines = [
    `LB cluster:        kubectl --kubeconfig ${topo.lb.kubeconfigPath} get vipclaims -A`,
    ...topo.tenants.map(
      (t) =>
        `consumer ${t.name.padEnd(8)} kubectl --kubeconfig ${t.cluster.kubeconfigPath} get svc -A   (Kubernetes ${t.cluster.line.version})`,
    ),
    `client:            ip netns exec ${topo.client.name} curl http://VIP/`,
    ...topo.lbNodes.map(
      (n) =>
        `${n.name} (${n.frontIp}, ${n.mac}): netns ${n.ns.name}, state: curl -s --unix-socket ${n.stateSocket} http://x/state`,
    ),
    ...topo.tenants.flatMap((t) =>
      t.nodes.map(
        (n) =>
          `${n.name} (${n.ip}): netns ${n.ns.name}, kube-proxy ${n.kubeProxy?.mode ?? '-'} (log ${n.kubeProxy?.logFile ?? '-'}); pod ${n.pod.name} ${n.pod.ip}: netns ${n.pod.ns.name}`,
      ),
    ),
    `logs:              ${topo.logDir}`,
  ];
  return lines.join('\n');
}

async function main(): Promise<void> {
  const cmd = process.argv[2];
  if (cmd === 'down') {
    const n = cleanupStale();
    console.log(n > 0 ? `removed what ${n} earlier run(s) left behind` : 'nothing to remove');
    return;
  }
  if (cmd !== 'up') {
    console.error(`usage: node scripts/topology.ts up ${TOPOLOGY_USAGE} | down`);
    process.exit(2);
  }
  cleanupStale();
  const argv = process.argv.slice(3);
  const datapath = datapathFlags(argv);
  const ledger = Ledger.open('topology');
  const topo = await Topology.up(ledger, {
    label: 'topology',
    tenants: (flag(argv, 'tenants') ?? 'c1').split(',').map((name) => ({ name })),
    ...datapath,
    progress: (l) => console.log(`- ${l}`),
  });
  console.log(`\ntopology up\n${describeTopology(topo)}\n\nCtrl-C tears it down.`);
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    console.log('tearing down');
    void topo.down().then(() => {
      rmSync(ledger.dir, { recursive: true, force: true });
      process.exit(0);
    });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
