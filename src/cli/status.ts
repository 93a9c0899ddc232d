// `kube-lb status`: every claim across tenants (VIP, owner node, programmed count, backend health, what is not
// right), then tenants and pools, from the LB cluster's API (read-only; an operator's kubeconfig).
import type { Command } from 'commander';
import type { ConsumerCluster, VIPClaim, VIPPool } from '../api/v1alpha1.ts';
import { summarize, summaryTables, type StatusSnapshot } from '../core/status/summary.ts';
import { EXIT, kubeConfigFor, outputOption, withConnection, type CliIO, type ConnectionFlags } from './command-args.ts';
import { render, type OutputFormat, type View } from './output.ts';
import type { CliContext } from './program.ts';

/** The speakers' per-node membership Leases (src/speaker/l2/membership.ts). */
const SPEAKER_LEASES = 'kube-lb.io/component=speaker-l2';

interface StatusFlags extends ConnectionFlags {
  tenant?: string;
  namespace: string;
  output: OutputFormat;
}

export function registerStatus(parent: Command, ctx: CliContext): void {
  withConnection(
    parent
      .command('status')
      .description('claims across tenants (VIP, owner node, programmed count, health), then tenants and pools')
      .option('--tenant <name>', "only this ConsumerCluster's claims and tenant row")
      .option('--namespace <name>', "namespace of the speakers' Leases", 'kube-lb-system')
      .addOption(outputOption()),
  ).action(async (flags: StatusFlags) => ctx.finish(await status(flags, ctx.io)));
}

async function status(flags: StatusFlags, io: CliIO): Promise<number> {
  // Imported here, not above: the Kubernetes client takes most of the CLI's start-up, and help and completion
  // do not need it.
  const k8s = await import('@kubernetes/client-node');
  const { KubeApiError } = await import('../kube/client.ts');
  const { resourceClient } = await import('../kube/custom-objects.ts');
  const kc = await kubeConfigFor(flags, io);
  const lists = await Promise.all([
    resourceClient<VIPClaim>(kc, 'VIPClaim').list(),
    resourceClient<ConsumerCluster>(kc, 'ConsumerCluster').list(),
    resourceClient<VIPPool>(kc, 'VIPPool').list(),
    kc
      .makeApiClient(k8s.CoordinationV1Api)
      .listNamespacedLease({ namespace: flags.namespace, labelSelector: SPEAKER_LEASES })
      .then(
        (l) => l.items.length,
        () => undefined,
      ),
  ]).catch((err: unknown) => {
    throw new KubeApiError('listing claims, tenants and pools', undefined, err);
  });
  const [claims, tenants, pools, lbNodes] = lists;
  const only = flags.tenant;
  io.out(
    render(
      flags.output,
      statusView({
        claims: claims.items.filter((c) => only === undefined || c.spec.service.cluster === only),
        tenants: tenants.items.filter((t) => only === undefined || t.metadata.name === only),
        pools: pools.items,
        lbNodes,
        now: new Date(),
      }),
    ),
  );
  return EXIT.ok;
}

/** json/yaml: the summary rows; name: every claim, tenant and pool shown, as kubectl names them. */
export function statusView(snapshot: StatusSnapshot): View {
  const summary = summarize(snapshot);
  const byName = (a: string, b: string) => a.localeCompare(b);
  return {
    data: summary,
    names: [
      ...snapshot.claims.map((c) => `vipclaim.kube-lb.io/${c.metadata.name}`).sort(byName),
      ...snapshot.tenants.map((t) => `consumercluster.kube-lb.io/${t.metadata.name}`).sort(byName),
      ...snapshot.pools.map((p) => `vippool.kube-lb.io/${p.metadata.name}`).sort(byName),
    ],
    human: (wide) => summaryTables(summary, wide),
  };
}
