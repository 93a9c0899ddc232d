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
import { setTimeout as sleep } from 'node:timers/promises';
import * as k8s from '@kubernetes/client-node';
import { parseAllDocuments, stringify } from 'yaml';
import type { ConsumerCluster, VIPClaim } from '../api/v1alpha1.ts';
import { renderTemplate } from '../core/manifest-template.ts';
import {
  agentKubeconfig,
  checkTenantRequest,
  consumerClusterFor,
  consumerSecretFor,
  decideRemoval,
  defaultTenantNamespace,
  parsePoolSelector,
  tenantConflict,
  tenantTemplateValues,
  tokenSecretFor,
  TENANT_SERVICE_ACCOUNT,
  TENANT_TOKEN_SECRET,
  type TenantRequest,
} from '../core/tenant/onboarding.ts';
import { Option, type Command } from 'commander';
import { apiMessage, isNotFound } from '../kube/client.ts';
import { resourceClient } from '../kube/custom-objects.ts';
import { KubeLbError, UsageError } from '../shared/errors.ts';
import { EXIT, collect, duration, kubeConfigFor, outputOption, processIO, wholeNumber, withConnection, type CliIO, type ConnectionFlags } from './command-args.ts';
import { render, type OutputFormat, type View } from './output.ts';
import type { CliContext } from './program.ts';

const TEMPLATE_DIR = fileURLToPath(new URL('../../deploy/tenant/', import.meta.url));
const FIELD_MANAGER = 'kube-lb-cli';

interface AddFlags extends ConnectionFlags {
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

interface RemoveFlags extends ConnectionFlags {
  force: boolean;
  output: OutputFormat;
}

export function registerTenant(parent: Command, ctx: CliContext): void {
  const tenant = parent.command('tenant').description('onboard (add) or offboard (remove) a consumer cluster');
  withConnection(
    tenant
      .command('add')
      .description("create a tenant's namespace, RBAC and ConsumerCluster; print the Secret its agent needs")
      .argument('<name>', 'the tenant (ConsumerCluster) name')
      .requiredOption('--backend-cidr <cidr>', "the consumer cluster's node network(s); repeat or comma-separate", collect)
      .option('--max-vips <n>', 'quota on distinct VIPs (unset: unlimited)', wholeNumber)
      .option('--tenant-namespace <ns>', "LB-cluster namespace of the tenant's claims (default kube-lb-tenant-NAME)")
      .option('--pool-selector <labels>', 'pools the tenant may use, as KEY=VALUE[,KEY=VALUE] (unset: all pools)')
      .option('--server <url>', "LB API server URL as the consumer cluster reaches it (default: the kubeconfig's)")
      .option('--certificate-authority <file>', "PEM file that verifies that server (default: the kubeconfig's CA)")
      .addOption(
        new Option('--token-ttl <duration>', 'issue a time-bound token (TokenRequest) valid this long; 0: a long-lived token Secret, revoked by tenant remove')
          .argParser(duration(0))
          .default(0, '0'),
      )
      .addOption(new Option('--wait-timeout <duration>', 'how long to wait for the token controller').argParser(duration(1000)).default(30_000, '30s'))
      // The Secret is a manifest to apply in the consumer cluster, so it prints as YAML unless asked otherwise.
      .addOption(outputOption('yaml')),
  ).action(async (name: string, flags: AddFlags) => ctx.finish(await add(name, flags, ctx.io)));
  withConnection(
    tenant
      .command('remove')
      .aliases(['rm', 'delete'])
      .description("delete a tenant: its claims (with --force), RBAC, token, namespace and ConsumerCluster")
      .argument('<name>', 'the tenant (ConsumerCluster) name')
      .option('--force', 'delete the tenant even though it still has claims (their VIPs stop)', false)
      .addOption(outputOption()),
  ).action(async (name: string, flags: RemoveFlags) => ctx.finish(await remove(name, flags, ctx.io)));
}

/** `kube-lb tenant ARGS…` (kept for callers that run the one command; the same as main(['tenant', …])). */
export async function tenantCommand(argv: readonly string[], io: CliIO = processIO): Promise<number> {
  const { main } = await import('./main.ts');
  return main(['tenant', ...argv], io);
}

// ------------------------------------------------------------------------------------------------ add

async function add(name: string, config: AddFlags, io: CliIO): Promise<number> {
  const selector = parsePoolSelector(config.poolSelector);
  const checked = selector.ok
    ? checkTenantRequest({
        name,
        tenantNamespace: config.tenantNamespace ?? defaultTenantNamespace(name),
        backendCIDRs: config.backendCidr,
        maxVIPs: config.maxVips,
        poolSelector: selector.value,
      })
    : selector;
  if (!checked.ok) throw new UsageError(checked.problems.join('\n  '), { object: { kind: 'ConsumerCluster', name } });
  const req = checked.value;
  const kc = kubeConfigFor(config, io);

  const clusters = resourceClient<ConsumerCluster>(kc, 'ConsumerCluster');
  const conflict = tenantConflict(req, (await clusters.list()).items);
  if (conflict) throw new KubeLbError('CLI_REFUSED', `refused (${conflict.reason}): ${conflict.message}`, { object: { kind: 'ConsumerCluster', name } });

  const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
  for (const obj of renderTenantObjects(req)) await apply(objects, obj);
  await apply(objects, consumerClusterFor(req) as k8s.KubernetesObject);
  io.err(`tenant ${req.name}: ConsumerCluster, namespace ${req.tenantNamespace}, ServiceAccount and RBAC applied\n`);

  const core = kc.makeApiClient(k8s.CoreV1Api);
  const issued = config.tokenTtl > 0
    ? await requestToken(core, req, config.tokenTtl)
    : await longLivedToken(objects, core, req, config.waitTimeout);
  const caPem = await certificateAuthority(kc, core, req, config.certificateAuthority, issued.caPem);
  const server = config.server ?? kc.getCurrentCluster()?.server;
  if (!server) throw new KubeLbError('CLI_NO_SERVER', 'the kubeconfig has no server; pass --server');
  if (/^https?:\/\/(127\.|localhost|\[::1\])/.test(server) && !config.server) {
    io.err(`warning: the consumer cluster will be told to reach ${server}; pass --server with an address it can reach\n`);
  }
  const credentials = { clusterName: req.name, tenantNamespace: req.tenantNamespace, server, caPem, token: issued.token };
  const kubeconfigText = stringify(agentKubeconfig(credentials), { lineWidth: 0 });
  io.out(render(config.output, tenantAddView(consumerSecretFor(credentials, kubeconfigText) as SecretManifest)));
  io.err(
    `tenant ${req.name}: agent credentials printed (${config.tokenTtl > 0 ? `token valid ${Math.round(config.tokenTtl / 1000)} s` : 'long-lived token; revoked by tenant remove'});` +
      ' apply them in the consumer cluster after deploy/lb-consumer-cluster/\n',
  );
  return EXIT.ok;
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
      { headers: ['NAMESPACE', 'NAME', 'TYPE', 'DATA'], rows: [[secret.metadata.namespace, secret.metadata.name, secret.type, String(Object.keys(secret.stringData).length)]] },
    ],
  };
}

/** The deploy/tenant templates rendered for this tenant, every document of every file, in file order. */
export function renderTenantObjects(req: Pick<TenantRequest, 'name' | 'tenantNamespace'>, dir = TEMPLATE_DIR): k8s.KubernetesObject[] {
  const out: k8s.KubernetesObject[] = [];
  for (const file of readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort()) {
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

async function apply(api: k8s.KubernetesObjectApi, obj: k8s.KubernetesObject): Promise<void> {
  try {
    await api.patch(obj, undefined, undefined, FIELD_MANAGER, true, k8s.PatchStrategy.ServerSideApply);
  } catch (err) {
    const meta = obj.metadata ?? {};
    throw new KubeLbError('CLI_APPLY', `applying ${obj.kind} ${meta.namespace ? `${meta.namespace}/` : ''}${meta.name}: ${apiMessage(err)}`, {
      object: { kind: obj.kind ?? '', name: meta.name ?? '', namespace: meta.namespace },
      cause: err,
    });
  }
}

interface IssuedToken {
  token: string;
  caPem?: string | undefined;
}

async function requestToken(core: k8s.CoreV1Api, req: TenantRequest, ttlMs: number): Promise<IssuedToken> {
  const res = await core.createNamespacedServiceAccountToken({
    name: TENANT_SERVICE_ACCOUNT,
    namespace: req.tenantNamespace,
    body: { spec: { audiences: [], expirationSeconds: Math.ceil(ttlMs / 1000) } },
  });
  const token = res.status?.token;
  if (!token) throw new KubeLbError('CLI_TOKEN', 'the API server returned no token');
  return { token };
}

/** A service-account-token Secret; the token controller fills in token and ca.crt. */
async function longLivedToken(
  objects: k8s.KubernetesObjectApi,
  core: k8s.CoreV1Api,
  req: TenantRequest,
  timeoutMs: number,
): Promise<IssuedToken> {
  await apply(objects, tokenSecretFor(req.tenantNamespace) as k8s.KubernetesObject);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const secret = await core.readNamespacedSecret({ name: TENANT_TOKEN_SECRET, namespace: req.tenantNamespace });
    const token = secret.data?.['token'];
    if (token) {
      const ca = secret.data?.['ca.crt'];
      return { token: Buffer.from(token, 'base64').toString('utf8'), caPem: ca ? Buffer.from(ca, 'base64').toString('utf8') : undefined };
    }
    if (Date.now() > deadline) {
      throw new KubeLbError(
        'CLI_TOKEN',
        `Secret ${req.tenantNamespace}/${TENANT_TOKEN_SECRET} got no token within ${timeoutMs} ms: is kube-controller-manager's token controller running? (or use --token-ttl)`,
      );
    }
    await sleep(200);
  }
}

/** The CA the consumer needs to verify the LB API server: flag, kubeconfig, token Secret, kube-root-ca.crt. */
async function certificateAuthority(
  kc: k8s.KubeConfig,
  core: k8s.CoreV1Api,
  req: TenantRequest,
  file: string | undefined,
  fromSecret: string | undefined,
): Promise<string> {
  if (file) return readFileSync(file, 'utf8');
  const cluster = kc.getCurrentCluster();
  if (cluster?.caData) return Buffer.from(cluster.caData, 'base64').toString('utf8');
  if (cluster?.caFile) return readFileSync(cluster.caFile, 'utf8');
  if (fromSecret) return fromSecret;
  try {
    const cm = await core.readNamespacedConfigMap({ name: 'kube-root-ca.crt', namespace: req.tenantNamespace });
    const pem = cm.data?.['ca.crt'];
    if (pem) return pem;
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  throw new KubeLbError('CLI_NO_CA', 'no CA for the LB API server found; pass --certificate-authority');
}

// ------------------------------------------------------------------------------------------------ remove

async function remove(name: string, config: RemoveFlags, io: CliIO): Promise<number> {
  const kc = kubeConfigFor(config, io);
  const clusters = resourceClient<ConsumerCluster>(kc, 'ConsumerCluster');
  let cc: ConsumerCluster;
  try {
    cc = await clusters.get(name);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    throw new KubeLbError('CLI_NOT_FOUND', `no ConsumerCluster ${name}`, { object: { kind: 'ConsumerCluster', name } });
  }
  const ns = cc.spec.tenantNamespace;
  const claimsApi = resourceClient<VIPClaim>(kc, 'VIPClaim');
  let claims: VIPClaim[] = [];
  try {
    claims = (await claimsApi.list(ns)).items;
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  const decision = decideRemoval(claims, config.force);
  if (!decision.allowed) throw new KubeLbError('CLI_REFUSED', `refused (${decision.reason}): ${decision.message}`, { object: { kind: 'ConsumerCluster', name } });
  for (const claim of decision.deleteClaims) await ignoreNotFound(() => claimsApi.delete(claim, ns));
  if (decision.deleteClaims.length) io.err(`tenant ${name}: deleted ${decision.deleteClaims.length} claim(s)\n`);

  const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
  // Reverse order: bindings and roles before the ServiceAccount, the namespace last.
  const rendered = renderTenantObjects({ name, tenantNamespace: ns }).reverse();
  for (const obj of rendered) await ignoreNotFound(() => objects.delete(obj));
  await ignoreNotFound(() => clusters.delete(name));
  io.err(`tenant ${name}: ConsumerCluster, RBAC, token and namespace ${ns} deleted (the namespace finishes terminating on its own)\n`);
  const deleted: RemovedObject[] = [
    ...decision.deleteClaims.map((claim) => ({ kind: 'VIPClaim', apiVersion: 'kube-lb.io/v1alpha1', name: claim, namespace: ns })),
    ...rendered.map((o) => ({ kind: o.kind ?? '', apiVersion: o.apiVersion ?? '', name: o.metadata?.name ?? '', ...(o.metadata?.namespace ? { namespace: o.metadata.namespace } : {}) })),
    { kind: 'ConsumerCluster', apiVersion: 'kube-lb.io/v1alpha1', name },
  ];
  io.out(render(config.output, tenantRemoveView({ tenant: name, tenantNamespace: ns, deleted })));
  return EXIT.ok;
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
    human: () => [{ headers: ['DELETED', 'NAMESPACE', 'NAME'], rows: removal.deleted.map((o) => [o.kind, o.namespace ?? '', o.name]) }],
  };
}

/** "vipclaim.kube-lb.io", "rolebinding.rbac.authorization.k8s.io", "namespace": kubectl's resource naming. */
function kubectlKind(o: RemovedObject): string {
  const group = o.apiVersion.includes('/') ? o.apiVersion.slice(0, o.apiVersion.indexOf('/')) : '';
  return `${o.kind.toLowerCase()}${group ? `.${group}` : ''}`;
}

async function ignoreNotFound(op: () => Promise<unknown>): Promise<void> {
  try {
    await op();
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}
