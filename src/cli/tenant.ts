// `kube-lb tenant add NAME --backend-cidr CIDR... [--max-vips N]` and `kube-lb tenant remove NAME [--force]`,
// run against the LB cluster with an administrator's kubeconfig.
//
// add: applies (server-side, idempotent) the tenant's objects rendered from deploy/tenant/*.yaml (namespace,
// ServiceAccount, RBAC scoped to that namespace and its own ConsumerCluster) and the ConsumerCluster, gets a token
// for the ServiceAccount, and prints the consumer-cluster Secret (kubeconfig + names) on stdout, as YAML unless -o
// says otherwise. Progress goes to stderr, so `kube-lb tenant add a ... | kubectl --context consumer apply -f -` works.
// remove: refuses while the tenant has claims unless --force; then deletes the claims, the rendered objects and
// the ConsumerCluster.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as k8s from '@kubernetes/client-node';
import { Option, type Command } from 'commander';
import { parseAllDocuments } from 'yaml';
import { renderTemplate } from '../core/manifest-template.ts';
import { tenantTemplateValues, type TenantRequest } from '../core/tenant/onboarding.ts';
import { KubeLbError } from '../shared/errors.ts';
import {
  collect,
  duration,
  outputOption,
  processIO,
  wholeNumber,
  withConnection,
  type CliIO,
  type ConnectionFlags,
} from './command-args.ts';
import type { OutputFormat, View } from './output.ts';
import type { CliContext } from './program.ts';

const TEMPLATE_DIR = fileURLToPath(new URL('../../deploy/tenant/', import.meta.url));

export interface AddFlags extends ConnectionFlags {
  backendCidr: string[];
  maxVips?: number;
  tenantNamespace?: string;
  poolSelector?: string;
  server?: string;
  certificateAuthority?: string;
  tokenTtl: number;
  waitTimeout: number;
  output: OutputFormat;
}

export interface RemoveFlags extends ConnectionFlags {
  force: boolean;
  output: OutputFormat;
}

// The work itself (tenant-ops.ts) is imported when a subcommand runs: the Kubernetes client it needs takes most of
// the CLI's start-up, and help and completion do not need it.
export function registerTenant(parent: Command, ctx: CliContext): void {
  const tenant = parent.command('tenant').description('onboard (add) or offboard (remove) a consumer cluster');
  withConnection(
    tenant
      .command('add')
      .description("create a tenant's namespace, RBAC and ConsumerCluster; print the Secret its agent needs")
      .argument('<name>', 'the tenant (ConsumerCluster) name')
      .requiredOption(
        '--backend-cidr <cidr>',
        "the consumer cluster's node network(s); repeat or comma-separate",
        collect,
      )
      .option('--max-vips <n>', 'quota on distinct VIPs (unset: unlimited)', wholeNumber)
      .option('--tenant-namespace <ns>', "LB-cluster namespace of the tenant's claims (default kube-lb-tenant-NAME)")
      .option('--pool-selector <labels>', 'pools the tenant may use, as KEY=VALUE[,KEY=VALUE] (unset: all pools)')
      .option('--server <url>', "LB API server URL as the consumer cluster reaches it (default: the kubeconfig's)")
      .option('--certificate-authority <file>', "PEM file that verifies that server (default: the kubeconfig's CA)")
      .addOption(
        new Option(
          '--token-ttl <duration>',
          'issue a time-bound token (TokenRequest) valid this long; 0: a long-lived token Secret, revoked by tenant remove',
        )
          .argParser(duration(0))
          .default(0, '0'),
      )
      .addOption(
        new Option('--wait-timeout <duration>', 'how long to wait for the token controller')
          .argParser(duration(1000))
          .default(30_000, '30s'),
      )
      // The Secret is a manifest to apply in the consumer cluster, so it prints as YAML unless asked otherwise.
      .addOption(outputOption('yaml')),
  ).action(async (name: string, flags: AddFlags) =>
    ctx.finish(await (await import('./tenant-ops.ts')).addTenant(name, flags, ctx.io)),
  );
  withConnection(
    tenant
      .command('remove')
      .aliases(['rm', 'delete'])
      .description('delete a tenant: its claims (with --force), RBAC, token, namespace and ConsumerCluster')
      .argument('<name>', 'the tenant (ConsumerCluster) name')
      .option('--force', 'delete the tenant even though it still has claims (their VIPs stop)', false)
      .addOption(outputOption()),
  ).action(async (name: string, flags: RemoveFlags) =>
    ctx.finish(await (await import('./tenant-ops.ts')).removeTenant(name, flags, ctx.io)),
  );
}

/** `kube-lb tenant ARGS…` (kept for callers that run the one command; the same as main(['tenant', …])). */
export async function tenantCommand(argv: readonly string[], io: CliIO = processIO): Promise<number> {
  const { main } = await import('./main.ts');
  return main(['tenant', ...argv], io);
}

/** The consumer-cluster Secret as consumerSecretFor builds it. */
export interface SecretManifest {
  kind: string;
  type: string;
  metadata: { name: string; namespace: string };
  stringData: Record<string, string>;
}

/** yaml/json: the Secret to apply in the consumer cluster; table: it as `kubectl get secret` shows one. */
export function tenantAddView(secret: SecretManifest): View {
  return {
    data: secret,
    names: [`secret/${secret.metadata.name}`],
    human: () => [
      {
        headers: ['NAMESPACE', 'NAME', 'TYPE', 'DATA'],
        rows: [
          [secret.metadata.namespace, secret.metadata.name, secret.type, String(Object.keys(secret.stringData).length)],
        ],
      },
    ],
  };
}

/** The deploy/tenant templates rendered for this tenant, every document of every file, in file order. */
export function renderTenantObjects(
  req: Pick<TenantRequest, 'name' | 'tenantNamespace'>,
  dir = TEMPLATE_DIR,
): k8s.KubernetesObject[] {
  const out: k8s.KubernetesObject[] = [];
  for (const file of readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()) {
    const rendered = renderTemplate(readFileSync(join(dir, file), 'utf8'), tenantTemplateValues(req));
    if (!rendered.ok) {
      throw new KubeLbError('CLI_TEMPLATE', `${join(dir, file)}: ${rendered.reason} ${rendered.names.join(', ')}`);
    }
    for (const doc of parseAllDocuments(rendered.text)) {
      const obj = doc.toJS() as k8s.KubernetesObject | null;
      if (obj?.kind) out.push(obj);
    }
  }
  return out;
}

export interface RemovedObject {
  kind: string;
  apiVersion: string;
  name: string;
  namespace?: string;
}

export interface TenantRemoval {
  tenant: string;
  tenantNamespace: string;
  /** What was deleted (or was already gone), in the order it was deleted. */
  deleted: RemovedObject[];
}

/** table: one row per object deleted (or found gone already); name: KIND[.GROUP]/NAME as kubectl prints them. */
export function tenantRemoveView(removal: TenantRemoval): View {
  return {
    data: removal,
    names: removal.deleted.map((o) => `${kubectlKind(o)}/${o.name}`),
    human: () => [
      {
        headers: ['DELETED', 'NAMESPACE', 'NAME'],
        rows: removal.deleted.map((o) => [o.kind, o.namespace ?? '', o.name]),
      },
    ],
  };
}

/** "vipclaim.kube-lb.io", "rolebinding.rbac.authorization.k8s.io", "namespace": kubectl's resource naming. */
function kubectlKind(o: RemovedObject): string {
  const group = o.apiVersion.includes('/') ? o.apiVersion.slice(0, o.apiVersion.indexOf('/')) : '';
  return `${o.kind.toLowerCase()}${group ? `.${group}` : ''}`;
}
