// The end-to-end topology (test/support/topology.ts) as one command:
//   node scripts/topology.ts up [--tenants c1,c2] [--cilium 1.18] [--maglev]   builds it, prints how to reach
//                                                                               it, runs until Ctrl-C, removes it
//   node scripts/topology.ts down                                               removes what a killed run left
// Nothing is left behind: every namespace, mount, process and directory is in a ledger under /tmp/kube-lb-test.
import { rmSync } from 'node:fs';
import { cleanupStale } from '../test/support/cleanup-stale.ts';
import { Ledger } from '../test/support/ledger.ts';
import { Topology } from '../test/support/topology.ts';
import { isCiliumVersion } from '../src/core/lb4/profile.ts';

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? undefined : process.argv[i + 1];
}

export function describeTopology(topo: Topology): string {
  const lines = [
    `LB cluster:        kubectl --kubeconfig ${topo.lb.kubeconfigPath} get vipclaims -A`,
    ...topo.tenants.map((t) => `consumer ${t.name.padEnd(8)} kubectl --kubeconfig ${t.cluster.kubeconfigPath} get svc -A`),
    `client:            ip netns exec ${topo.client.name} curl http://VIP/`,
    ...topo.lbNodes.map((n) => `${n.name} (${n.frontIp}, ${n.mac}): netns ${n.ns.name}, state: curl -s --unix-socket ${n.stateSocket} http://x/state`),
    ...topo.tenants.flatMap((t) => t.nodes.map((n) => `${n.name} (${n.ip}): netns ${n.ns.name}`)),
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
    console.error('usage: node scripts/topology.ts up [--tenants c1,c2] [--cilium 1.18] [--maglev] | down');
    process.exit(2);
  }
  cleanupStale();
  const cilium = flag('cilium') ?? '1.18';
  if (!isCiliumVersion(cilium)) throw new Error(`--cilium ${cilium}: not a supported version`);
  const ledger = Ledger.open('topology');
  const topo = await Topology.up(ledger, {
    label: 'topology',
    tenants: (flag('tenants') ?? 'c1').split(',').map((name) => ({ name })),
    ciliumVersion: cilium,
    maglev: process.argv.includes('--maglev'),
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
