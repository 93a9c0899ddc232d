// `kube-lb status`: every claim across tenants (VIP, owner node, programmed count, backend health, what is not
// right), then tenants and pools, from the LB cluster's API (read-only; an operator's kubeconfig).
import * as k8s from '@kubernetes/client-node';
import type { ConsumerCluster, VIPClaim, VIPPool } from '../api/v1alpha1.ts';
import { formatSummary, summarize } from '../core/status/summary.ts';
import { apiMessage, loadKubeConfig } from '../kube/client.ts';
import { resourceClient } from '../kube/custom-objects.ts';
import { describeOptions, type OptionSpec } from '../shared/config.ts';
import { ConfigError } from '../shared/errors.ts';
import { EXIT, parseCommand, type CliIO } from './command-args.ts';

/** The speakers' per-node membership Leases (src/speaker/l2/membership.ts). */
const SPEAKER_LEASES = 'kube-lb.io/component=speaker-l2';

const OPTIONS = {
  tenant: { kind: 'string', help: 'only this ConsumerCluster\'s claims' },
  output: { kind: 'string', default: 'text', oneOf: ['text', 'wide', 'json'], help: 'text, wide or json' },
  namespace: { kind: 'string', default: 'kube-lb-system', help: 'namespace of the speakers\' Leases' },
  kubeconfig: { kind: 'string', env: 'KUBECONFIG', help: 'kubeconfig of the LB cluster' },
  context: { kind: 'string', help: 'kubeconfig context' },
  help: { kind: 'bool', default: false, help: 'print this help' },
} satisfies Record<string, OptionSpec>;

const USAGE = `usage: kube-lb status [flags]\n\n${describeOptions(OPTIONS)}\n`;

export async function statusCommand(argv: readonly string[], io: CliIO): Promise<number> {
  let config;
  try {
    ({ config } = parseCommand(OPTIONS, argv, io.env));
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.err(`kube-lb status: ${err.message}\n\n${USAGE}`);
    return EXIT.usage;
  }
  if (config.help) {
    io.out(USAGE);
    return EXIT.ok;
  }
  try {
    const kc = loadKubeConfig({ kubeconfig: config.kubeconfig, context: config.context });
    const [claims, tenants, pools, lbNodes] = await Promise.all([
      resourceClient<VIPClaim>(kc, 'VIPClaim').list(),
      resourceClient<ConsumerCluster>(kc, 'ConsumerCluster').list(),
      resourceClient<VIPPool>(kc, 'VIPPool').list(),
      kc
        .makeApiClient(k8s.CoordinationV1Api)
        .listNamespacedLease({ namespace: config.namespace, labelSelector: SPEAKER_LEASES })
        .then((l) => l.items.length, () => undefined),
    ]);
    const only = config.tenant;
    const summary = summarize({
      claims: claims.items.filter((c) => only === undefined || c.spec.service.cluster === only),
      tenants: tenants.items.filter((t) => only === undefined || t.metadata.name === only),
      pools: pools.items,
      lbNodes,
      now: new Date(),
    });
    io.out(config.output === 'json' ? `${JSON.stringify(summary, null, 2)}\n` : formatSummary(summary, config.output === 'wide'));
    return EXIT.ok;
  } catch (err) {
    io.err(`kube-lb status: ${apiMessage(err)}\n`);
    return EXIT.failed;
  }
}
