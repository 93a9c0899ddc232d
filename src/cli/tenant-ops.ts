// What `kube-lb tenant add` and `kube-lb tenant remove` do against the LB cluster (src/cli/tenant.ts declares the
// commands, their flags and their output).
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import * as k8s from '@kubernetes/client-node';
import { stringify } from 'yaml';
import type { ConsumerCluster, VIPClaim } from '../api/v1alpha1.ts';
import {
  agentKubeconfig,
  checkTenantRequest,
  consumerClusterFor,
  consumerSecretFor,
  decideRemoval,
  defaultTenantNamespace,
  isSystemNamespace,
  namespaceRefusal,
  parsePoolSelector,
  tenantConflict,
  tokenSecretFor,
  TENANT_SERVICE_ACCOUNT,
  TENANT_TOKEN_SECRET,
  type TenantRequest,
} from '../core/tenant/onboarding.ts';
import { apiMessage, isNotFound } from '../kube/client.ts';
import { resourceClient } from '../kube/custom-objects.ts';
import { KubeLbError, UsageError } from '../shared/errors.ts';
import { EXIT, kubeConfigFor, type CliIO } from './command-args.ts';
import { render } from './output.ts';
import {
  renderTenantObjects,
  tenantAddView,
  tenantRemoveView,
  type AddFlags,
  type RemovedObject,
  type RemoveFlags,
  type SecretManifest,
} from './tenant.ts';

const FIELD_MANAGER = 'kube-lb-cli';

export async function addTenant(name: string, config: AddFlags, io: CliIO): Promise<number> {
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
  const kc = await kubeConfigFor(config, io);

  const clusters = resourceClient<ConsumerCluster>(kc, 'ConsumerCluster');
  const conflict = tenantConflict(req, (await clusters.list()).items);
  if (conflict)
    throw new KubeLbError('CLI_REFUSED', `refused (${conflict.reason}): ${conflict.message}`, {
      object: { kind: 'ConsumerCluster', name },
    });

  const core = kc.makeApiClient(k8s.CoreV1Api);
  const refusal = namespaceRefusal(req.name, await readNamespace(core, req.tenantNamespace));
  if (refusal) {
    throw new KubeLbError('CLI_REFUSED', `refused (NamespaceNotKubeLb): ${refusal}`, {
      object: { kind: 'ConsumerCluster', name, field: 'spec.tenantNamespace' },
    });
  }
  const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
  for (const obj of renderTenantObjects(req)) await apply(objects, obj);
  await apply(objects, consumerClusterFor(req) as k8s.KubernetesObject);
  io.err(`tenant ${req.name}: ConsumerCluster, namespace ${req.tenantNamespace}, ServiceAccount and RBAC applied\n`);

  const issued =
    config.tokenTtl > 0
      ? await requestToken(core, req, config.tokenTtl)
      : await longLivedToken(objects, core, req, config.waitTimeout);
  const caPem = await certificateAuthority(kc, core, req, config.certificateAuthority, issued.caPem);
  const server = config.server ?? kc.getCurrentCluster()?.server;
  if (!server) throw new KubeLbError('CLI_NO_SERVER', 'the kubeconfig has no server; pass --server');
  if (/^https?:\/\/(127\.|localhost|\[::1\])/.test(server) && !config.server) {
    io.err(
      `warning: the consumer cluster will be told to reach ${server}; pass --server with an address it can reach\n`,
    );
  }
  const credentials = {
    clusterName: req.name,
    tenantNamespace: req.tenantNamespace,
    server,
    caPem,
    token: issued.token,
  };
  const kubeconfigText = stringify(agentKubeconfig(credentials), { lineWidth: 0 });
  io.out(render(config.output, tenantAddView(consumerSecretFor(credentials, kubeconfigText) as SecretManifest)));
  io.err(
    `tenant ${req.name}: agent credentials printed (${config.tokenTtl > 0 ? `token valid ${Math.round(config.tokenTtl / 1000)} s` : 'long-lived token; revoked by tenant remove'});` +
      ' apply them in the consumer cluster after deploy/lb-consumer-cluster/\n',
  );
  return EXIT.ok;
}

async function apply(api: k8s.KubernetesObjectApi, obj: k8s.KubernetesObject): Promise<void> {
  try {
    await api.patch(obj, undefined, undefined, FIELD_MANAGER, true, k8s.PatchStrategy.ServerSideApply);
  } catch (err) {
    const meta = obj.metadata ?? {};
    throw new KubeLbError(
      'CLI_APPLY',
      `applying ${obj.kind} ${meta.namespace ? `${meta.namespace}/` : ''}${meta.name}: ${apiMessage(err)}`,
      {
        object: { kind: obj.kind ?? '', name: meta.name ?? '', namespace: meta.namespace },
        cause: err,
      },
    );
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
    const token = secret.data?.token;
    if (token) {
      const ca = secret.data?.['ca.crt'];
      return {
        token: Buffer.from(token, 'base64').toString('utf8'),
        caPem: ca ? Buffer.from(ca, 'base64').toString('utf8') : undefined,
      };
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

export async function removeTenant(name: string, config: RemoveFlags, io: CliIO): Promise<number> {
  const kc = await kubeConfigFor(config, io);
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
  if (!decision.allowed)
    throw new KubeLbError('CLI_REFUSED', `refused (${decision.reason}): ${decision.message}`, {
      object: { kind: 'ConsumerCluster', name },
    });
  for (const claim of decision.deleteClaims) await ignoreNotFound(() => claimsApi.delete(claim, ns));
  if (decision.deleteClaims.length) io.err(`tenant ${name}: deleted ${decision.deleteClaims.length} claim(s)\n`);

  const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
  // The namespace goes only if kube-lb created it for this tenant (a ConsumerCluster written by hand may name
  // any namespace): deleting it deletes everything in it.
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const kept = isSystemNamespace(ns)
    ? `${ns} is a system namespace`
    : namespaceRefusal(name, await readNamespace(core, ns));
  if (kept) io.err(`tenant ${name}: namespace ${ns} left in place: ${kept}\n`);
  // Reverse order: bindings and roles before the ServiceAccount, the namespace last.
  const rendered = renderTenantObjects({ name, tenantNamespace: ns })
    .reverse()
    .filter((o) => !(kept && o.kind === 'Namespace'));
  for (const obj of rendered) await ignoreNotFound(() => objects.delete(obj));
  await ignoreNotFound(() => clusters.delete(name));
  io.err(
    `tenant ${name}: ConsumerCluster, RBAC, token${kept ? '' : ` and namespace ${ns}`} deleted${kept ? '' : ' (the namespace finishes terminating on its own)'}\n`,
  );
  const deleted: RemovedObject[] = [
    ...decision.deleteClaims.map((claim) => ({
      kind: 'VIPClaim',
      apiVersion: 'kube-lb.io/v1alpha1',
      name: claim,
      namespace: ns,
    })),
    ...rendered.map((o) => ({
      kind: o.kind ?? '',
      apiVersion: o.apiVersion ?? '',
      name: o.metadata?.name ?? '',
      ...(o.metadata?.namespace ? { namespace: o.metadata.namespace } : {}),
    })),
    { kind: 'ConsumerCluster', apiVersion: 'kube-lb.io/v1alpha1', name },
  ];
  io.out(render(config.output, tenantRemoveView({ tenant: name, tenantNamespace: ns, deleted })));
  return EXIT.ok;
}

/** The namespace, or undefined when there is none. */
async function readNamespace(core: k8s.CoreV1Api, name: string): Promise<k8s.V1Namespace | undefined> {
  try {
    return await core.readNamespace({ name });
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

async function ignoreNotFound(op: () => Promise<unknown>): Promise<void> {
  try {
    await op();
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}
