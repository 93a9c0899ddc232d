// `npm run demo`: until the end-to-end topology lands, starts the LB and consumer control planes with the CRDs
// installed and prints how to reach them. `--once` starts, checks and exits.
import { Ledger } from '../test/support/ledger.ts';
import { startClusters } from '../test/support/controlplane.ts';

const once = process.argv.includes('--once');
const ledger = Ledger.open('demo');
const clusters = await startClusters(ledger, [{ name: 'lb' }, { name: 'consumer', controllers: ['namespace', 'garbagecollector', 'endpointslice', 'serviceaccount', 'serviceaccount-token'] }]);
for (const c of clusters) {
  console.log(`${c.name} cluster: ${c.server}\n  kubectl --kubeconfig ${c.kubeconfigPath} get nodes`);
}
const stop = async (): Promise<void> => {
  await Promise.all(clusters.map((c) => c.stop()));
  process.exit(0);
};
if (once) await stop();
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
console.log('Running. Ctrl-C to stop.');
