// `kube-lb tenant add NAME --backend-cidr CIDR... [--max-vips N]` and `kube-lb tenant remove NAME [--force]`,
// run against the LB cluster with an administrator's kubeconfig.
//
// add: applies (server-side, idempotent) the tenant's objects rendered from deploy/tenant/*.yaml (namespace,
// ServiceAccount, RBAC scoped to that namespace and its own ConsumerCluster) and the ConsumerCluster, gets a token
// for the ServiceAccount, and prints the consumer-cluster Secret (kubeconfig + names) on stdout. Progress goes
// to stderr, so `kube-lb tenant add a ... | kubectl --context consumer apply -f -` works.
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
import { apiMessage, isNotFound, loadKubeConfig } from '../kube/client.ts';
import { resourceClient } from '../kube/custom-objects.ts';
import { describeOptions, type ConfigOf, type OptionSpec } from '../shared/config.ts';
import { ConfigError, KubeLbError } from '../shared/errors.ts';
import { EXIT, parseCommand, type CliIO } from './command-args.ts';

const TEMPLATE_DIR = fileURLToPath(new URL('../../deploy/tenant/', import.meta.url));
const FIELD_MANAGER = 'kube-lb-cli';

const CONNECTION = {
  kubeconfig: { kind: 'string', env: 'KUBECONFIG', help: 'kubeconfig of the LB cluster (administrator)' },
  context: { kind: 'string', help: 'kubeconfig context' },
  help: { kind: 'bool', default: false, help: 'print this help' },
} satisfies Record<string, OptionSpec>;

const ADD_OPTIONS = {
  'backend-cidr': { kind: 'list', required: true, help: "the consumer cluster's node network(s); repeat or comma-separate" },
  'max-vips': { kind: 'int', min: 0, help: 'quota on distinct VIPs (unset: unlimited)' },
  'tenant-namespace': { kind: 'string', help: 'LB-cluster namespace of the tenant\'s claims (default kube-lb-tenant-NAME)' },
  'pool-selector': { kind: 'string', help: 'pools the tenant may use, as KEY=VALUE[,KEY=VALUE] (unset: all pools)' },
  server: { kind: 'string', help: 'LB API server URL as the consumer cluster reaches it (default: the kubeconfig\'s)' },
  'certificate-authority': { kind: 'string', help: 'PEM file that verifies that server (default: the kubeconfig\'s CA)' },
  'token-ttl': {
    kind: 'duration',
    default: 0,
    min: 0,
    help: 'issue a time-bound token (TokenRequest) valid this long; 0: a long-lived token Secret, revoked by tenant remove',
  },
  'wait-timeout': { kind: 'duration', default: 30_000, min: 1000, help: 'how long to wait for the token controller' },
  ...CONNECTION,
} satisfies Record<string, OptionSpec>;

const REMOVE_OPTIONS = {
  force: { kind: 'bool', default: false, help: 'delete the tenant even though it still has claims (their VIPs stop)' },
  ...CONNECTION,
} satisfies Record<string, OptionSpec>;

const USAGE = `usage:
  kube-lb tenant add NAME --backend-cidr CIDR [--backend-cidr CIDR...] [--max-vips N] [flags]
  kube-lb tenant remove NAME [--force] [flags]

add flags:
${describeOptions(ADD_OPTIONS)}

remove flags:
${describeOptions(REMOVE_OPTIONS)}
`;

export async function tenantCommand(argv: readonly string[], io: CliIO): Promise<number> {
  const [verb, ...rest] = argv;
  try {
    if (verb === 'add') return await add(rest, io);
    if (verb === 'remove' || verb === 'rm' || verb === 'delete') return await remove(rest, io);
    if (verb === undefined || verb === '--help' || verb === 'help') {
      io.out(USAGE);
      return verb === undefined ? EXIT.usage : EXIT.ok;
    }
    io.err(`kube-lb tenant: unknown subcommand "${verb}"\n${USAGE}`);
    return EXIT.usage;
  } catch (err) {
    if (err instanceof ConfigError) {
      io.err(`kube-lb tenant ${verb}: ${err.message}\n\n${USAGE}`);
      return EXIT.usage;
    }
    io.err(`kube-lb tenant ${verb}: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT.failed;
  }
}

/** Flags and the one tenant NAME, or the exit code when there is nothing to do (--help) or no single name. */
function parseNamed<Specs extends Record<string, OptionSpec>>(
  specs: Specs,
  argv: readonly string[],
  io: CliIO,
): { name: string; config: ConfigOf<Specs> } | number {
  const { positionals, config } = parseCommand(specs, argv, io.env);
  if ((config as { help?: boolean }).help) {
    io.out(USAGE);
    return EXIT.ok;
  }
  if (positionals.length === 1) return { name: positionals[0]!, config };
  io.err(`kube-lb tenant: expected exactly one tenant NAME, got ${positionals.length}\n\n${USAGE}`);
  return EXIT.usage;
}

// ------------------------------------------------------------------------------------------------ add

async function add(argv: readonly string[], io: CliIO): Promise<number> {
  const parsed = parseNamed(ADD_OPTIONS, argv, io);
  if (typeof parsed === 'number') return parsed;
  const { name, config } = parsed;
  const selector = parsePoolSelector(config['pool-selector']);
  const checked = selector.ok
    ? checkTenantRequest({
        name,
        tenantNamespace: config['tenant-namespace'] ?? defaultTenantNamespace(name),
        backendCIDRs: config['backend-cidr'],
        maxVIPs: config['max-vips'],
        poolSelector: selector.value,
      })
    : selector;
  if (!checked.ok) {
    io.err(`kube-lb tenant add: ${checked.problems.join('\n  ')}\n`);
    return EXIT.usage;
  }
  const req = checked.value;
  const kc = loadKubeConfig({ kubeconfig: config.kubeconfig, context: config.context });

  const clusters = resourceClient<ConsumerCluster>(kc, 'ConsumerCluster');
  const conflict = tenantConflict(req, (await clusters.list()).items);
  if (conflict) {
    io.err(`kube-lb tenant add: refused (${conflict.reason}): ${conflict.message}\n`);
    return EXIT.failed;
  }

  const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
  for (const obj of renderTenantObjects(req)) await apply(objects, obj);
  await apply(objects, consumerClusterFor(req) as k8s.KubernetesObject);
  io.err(`tenant ${req.name}: ConsumerCluster, namespace ${req.tenantNamespace}, ServiceAccount and RBAC applied\n`);

  const core = kc.makeApiClient(k8s.CoreV1Api);
  const issued = config['token-ttl'] > 0
    ? await requestToken(core, req, config['token-ttl'])
    : await longLivedToken(objects, core, req, config['wait-timeout']);
  const caPem = await certificateAuthority(kc, core, req, config['certificate-authority'], issued.caPem);
  const server = config.server ?? kc.getCurrentCluster()?.server;
  if (!server) throw new KubeLbError('CLI_NO_SERVER', 'the kubeconfig has no server; pass --server');
  if (/^https?:\/\/(127\.|localhost|\[::1\])/.test(server) && !config.server) {
    io.err(`warning: the consumer cluster will be told to reach ${server}; pass --server with an address it can reach\n`);
  }
  const credentials = { clusterName: req.name, tenantNamespace: req.tenantNamespace, server, caPem, token: issued.token };
  const kubeconfigText = stringify(agentKubeconfig(credentials), { lineWidth: 0 });
  io.out(`# kube-lb: credentials of tenant ${req.name} for its agent. Apply in the consumer cluster:\n`);
  io.out(`#   kubectl apply -f deploy/lb-consumer-cluster/ && kubectl apply -f THIS_FILE\n`);
  io.out(stringify(consumerSecretFor(credentials, kubeconfigText), { lineWidth: 0 }));
  io.err(
    `tenant ${req.name}: agent credentials printed (${config['token-ttl'] > 0 ? `token valid ${Math.round(config['token-ttl'] / 1000)} s` : 'long-lived token; revoked by tenant remove'})\n`,
  );
  return EXIT.ok;
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

async function remove(argv: readonly string[], io: CliIO): Promise<number> {
  const parsed = parseNamed(REMOVE_OPTIONS, argv, io);
  if (typeof parsed === 'number') return parsed;
  const { name, config } = parsed;
  const kc = loadKubeConfig({ kubeconfig: config.kubeconfig, context: config.context });
  const clusters = resourceClient<ConsumerCluster>(kc, 'ConsumerCluster');
  let cc: ConsumerCluster;
  try {
    cc = await clusters.get(name);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    io.err(`kube-lb tenant remove: no ConsumerCluster ${name}\n`);
    return EXIT.failed;
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
  if (!decision.allowed) {
    io.err(`kube-lb tenant remove: refused (${decision.reason}): ${decision.message}\n`);
    return EXIT.failed;
  }
  for (const claim of decision.deleteClaims) await ignoreNotFound(() => claimsApi.delete(claim, ns));
  if (decision.deleteClaims.length) io.err(`tenant ${name}: deleted ${decision.deleteClaims.length} claim(s)\n`);

  const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
  // Reverse order: bindings and roles before the ServiceAccount, the namespace last.
  for (const obj of renderTenantObjects({ name, tenantNamespace: ns }).reverse()) {
    await ignoreNotFound(() => objects.delete(obj));
  }
  await ignoreNotFound(() => clusters.delete(name));
  io.err(`tenant ${name}: ConsumerCluster, RBAC, token and namespace ${ns} deleted (the namespace finishes terminating on its own)\n`);
  return EXIT.ok;
}

async function ignoreNotFound(op: () => Promise<unknown>): Promise<void> {
  try {
    await op();
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}
