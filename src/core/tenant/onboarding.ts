// Tenant onboarding as data: what `kube-lb tenant add` writes to the LB cluster (a ConsumerCluster and the
// rendered deploy/tenant templates) and what it hands to the consumer cluster (a Secret with a kubeconfig for the
// tenant's ServiceAccount, its ConsumerCluster name and tenant namespace). Pure: the CLI does the API calls.
import { API_VERSION, type ConsumerCluster, type LabelSelector, type VIPClaim } from '../../api/v1alpha1.ts';
import { parseStrictCIDR } from '../ip/range.ts';

/** Namespace and ServiceAccount of the agent in the consumer cluster (deploy/lb-consumer-cluster). */
export const CONSUMER_NAMESPACE = 'kube-lb-system';
/** The Secret deploy/lb-consumer-cluster/20-agent.yaml mounts; keys below. */
export const CONSUMER_SECRET_NAME = 'kube-lb-agent-lb-kubeconfig';
export const CONSUMER_SECRET_KEYS = {
  kubeconfig: 'kubeconfig',
  clusterName: 'cluster-name',
  tenantNamespace: 'tenant-namespace',
} as const;
/** The tenant's ServiceAccount in its LB-cluster namespace (deploy/tenant/agent-rbac.yaml). */
export const TENANT_SERVICE_ACCOUNT = 'kube-lb-agent';
/** The long-lived token Secret `tenant add` creates beside that ServiceAccount. */
export const TENANT_TOKEN_SECRET = 'kube-lb-agent-token';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const NAMESPACE_PREFIX = 'kube-lb-tenant-';

export interface TenantRequest {
  name: string;
  tenantNamespace: string;
  backendCIDRs: string[];
  maxVIPs?: number | undefined;
  poolSelector?: LabelSelector | undefined;
}

export type Checked<T> = { ok: true; value: T } | { ok: false; problems: string[] };

export function defaultTenantNamespace(name: string): string {
  return `${NAMESPACE_PREFIX}${name}`;
}

/** "a=b,c=d" → matchLabels; empty → undefined. */
export function parsePoolSelector(text: string | undefined): Checked<LabelSelector | undefined> {
  if (text === undefined || text.trim() === '') return { ok: true, value: undefined };
  const matchLabels: Record<string, string> = {};
  const problems: string[] = [];
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const m = /^([A-Za-z0-9./_-]+)=([A-Za-z0-9._-]*)$/.exec(part);
    if (m) matchLabels[m[1]!] = m[2]!;
    else problems.push(`pool selector "${part}" is not KEY=VALUE`);
  }
  return problems.length ? { ok: false, problems } : { ok: true, value: { matchLabels } };
}

/**
 * Namespaces that are never a tenant's: Kubernetes' own (`default` and the reserved `kube-` prefix, which also
 * covers kube-lb-system). `tenant remove` deletes the tenant namespace with everything in it.
 */
export function isSystemNamespace(ns: string): boolean {
  return ns === 'default' || (ns.startsWith('kube-') && !ns.startsWith(NAMESPACE_PREFIX));
}

/** The label kube-lb puts on a tenant namespace it creates (deploy/tenant/agent-rbac.yaml): the tenant's name. */
export const TENANT_NAMESPACE_LABEL = 'kube-lb.io/cluster';

/**
 * Whether a namespace that exists may be a tenant's namespace: only if kube-lb created it for this tenant.
 * Anything else would be handed to the tenant's agent, and deleted with everything in it by `tenant remove`.
 */
export function namespaceRefusal(
  tenant: string,
  namespace:
    | { readonly metadata?: { readonly name?: string; readonly labels?: Readonly<Record<string, string>> } }
    | undefined,
): string | undefined {
  if (!namespace) return undefined;
  const name = namespace.metadata?.name ?? '';
  const owner = namespace.metadata?.labels?.[TENANT_NAMESPACE_LABEL];
  if (owner === tenant) return undefined;
  return owner === undefined
    ? `namespace ${name} exists and kube-lb did not create it (no ${TENANT_NAMESPACE_LABEL} label): choose another --tenant-namespace`
    : `namespace ${name} is tenant ${owner}'s (${TENANT_NAMESPACE_LABEL}=${owner})`;
}

export function checkTenantRequest(req: TenantRequest): Checked<TenantRequest> {
  const problems: string[] = [];
  if (!DNS_LABEL.test(req.name))
    problems.push(`name "${req.name}" must be a lowercase DNS label of at most 63 characters`);
  if (!DNS_LABEL.test(req.tenantNamespace)) {
    problems.push(
      `tenant namespace "${req.tenantNamespace}" must be a lowercase DNS label of at most 63 characters` +
        (req.tenantNamespace.startsWith(NAMESPACE_PREFIX) ? ' (a long name needs --tenant-namespace)' : ''),
    );
  } else if (isSystemNamespace(req.tenantNamespace)) {
    problems.push(
      `tenant namespace "${req.tenantNamespace}" is a system namespace: a tenant gets a namespace of its own, which its agent writes to and tenant remove deletes`,
    );
  }
  if (req.backendCIDRs.length === 0)
    problems.push("at least one --backend-cidr is required (the consumer nodes' network)");
  const cidrs: string[] = [];
  for (const text of req.backendCIDRs.map((c) => c.trim())) {
    const parsed = parseStrictCIDR(text);
    if (!parsed.ok) problems.push(`backend CIDR "${text}": ${parsed.reason}`);
    else cidrs.push(text);
  }
  if (req.maxVIPs !== undefined && (!Number.isInteger(req.maxVIPs) || req.maxVIPs < 0)) {
    problems.push(`max VIPs ${req.maxVIPs} must be a whole number ≥ 0`);
  }
  return problems.length ? { ok: false, problems } : { ok: true, value: { ...req, backendCIDRs: cidrs } };
}

export type ConflictReason = 'TenantNamespaceChange' | 'NamespaceTaken';

/**
 * Why `req` cannot be applied over what exists, or undefined. Re-running `tenant add` for an existing tenant with
 * the same namespace is fine (it updates CIDRs and quota and reissues the Secret); moving a tenant is not.
 */
export function tenantConflict(
  req: TenantRequest,
  existing: readonly ConsumerCluster[],
): { reason: ConflictReason; message: string } | undefined {
  for (const cc of existing) {
    const name = cc.metadata.name;
    if (name === req.name && cc.spec.tenantNamespace !== req.tenantNamespace) {
      return {
        reason: 'TenantNamespaceChange',
        message: `ConsumerCluster ${name} already uses tenant namespace ${cc.spec.tenantNamespace}; a tenant cannot move (remove it first)`,
      };
    }
    if (name !== req.name && cc.spec.tenantNamespace === req.tenantNamespace) {
      return {
        reason: 'NamespaceTaken',
        message: `tenant namespace ${req.tenantNamespace} belongs to ConsumerCluster ${name}`,
      };
    }
  }
  return undefined;
}

export function consumerClusterFor(req: TenantRequest): ConsumerCluster {
  return {
    apiVersion: API_VERSION,
    kind: 'ConsumerCluster',
    metadata: { name: req.name, labels: { 'app.kubernetes.io/managed-by': 'kube-lb-cli' } },
    spec: {
      tenantNamespace: req.tenantNamespace,
      allowedBackendCIDRs: req.backendCIDRs,
      ...(req.maxVIPs !== undefined ? { maxVIPs: req.maxVIPs } : {}),
      ...(req.poolSelector ? { poolSelector: req.poolSelector } : {}),
    },
  };
}

/** The values deploy/tenant/*.yaml templates take. */
export function tenantTemplateValues(req: Pick<TenantRequest, 'name' | 'tenantNamespace'>): Record<string, string> {
  return { CLUSTER_NAME: req.name, TENANT_NAMESPACE: req.tenantNamespace };
}

/** The Secret that makes the ServiceAccount's long-lived token (filled in by the token controller). */
export function tokenSecretFor(tenantNamespace: string): object {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/service-account-token',
    metadata: {
      name: TENANT_TOKEN_SECRET,
      namespace: tenantNamespace,
      annotations: { 'kubernetes.io/service-account.name': TENANT_SERVICE_ACCOUNT },
    },
  };
}

export interface AgentCredentials {
  clusterName: string;
  tenantNamespace: string;
  /** LB cluster API server URL as the consumer cluster reaches it. */
  server: string;
  /** PEM bundle for the server's certificate; undefined only with insecure (tests never use that). */
  caPem: string;
  token: string;
}

/** A kubeconfig for the agent: one cluster, one token user, namespace set to the tenant's. */
export function agentKubeconfig(c: AgentCredentials): object {
  const context = `kube-lb-agent@${c.clusterName}`;
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'kube-lb',
        cluster: { server: c.server, 'certificate-authority-data': Buffer.from(c.caPem).toString('base64') },
      },
    ],
    users: [{ name: `kube-lb-agent-${c.clusterName}`, user: { token: c.token } }],
    contexts: [
      {
        name: context,
        context: { cluster: 'kube-lb', user: `kube-lb-agent-${c.clusterName}`, namespace: c.tenantNamespace },
      },
    ],
    'current-context': context,
  };
}

/** The consumer-side Secret (stringData, so it reads as what it is). */
export function consumerSecretFor(c: AgentCredentials, kubeconfigText: string): object {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: {
      name: CONSUMER_SECRET_NAME,
      namespace: CONSUMER_NAMESPACE,
      labels: { 'app.kubernetes.io/part-of': 'kube-lb', 'kube-lb.io/cluster': c.clusterName },
    },
    stringData: {
      [CONSUMER_SECRET_KEYS.kubeconfig]: kubeconfigText,
      [CONSUMER_SECRET_KEYS.clusterName]: c.clusterName,
      [CONSUMER_SECRET_KEYS.tenantNamespace]: c.tenantNamespace,
    },
  };
}

export type RemovalDecision =
  | { allowed: true; deleteClaims: string[] }
  | { allowed: false; reason: 'ClaimsExist'; message: string };

/** `tenant remove` refuses while the tenant has claims (traffic still flows to their VIPs) unless forced. */
export function decideRemoval(claims: readonly VIPClaim[], force: boolean): RemovalDecision {
  const names = claims
    .map((c) => c.metadata.name ?? '')
    .filter(Boolean)
    .sort();
  if (names.length === 0 || force) return { allowed: true, deleteClaims: names };
  const withVip = claims.filter((c) => c.status?.vip).length;
  const shown = names.slice(0, 10).join(', ') + (names.length > 10 ? `, … (${names.length - 10} more)` : '');
  return {
    allowed: false,
    reason: 'ClaimsExist',
    message:
      `the tenant still has ${names.length} claim(s), ${withVip} with a VIP: ${shown}. ` +
      'Delete the LoadBalancer Services in the consumer cluster (or stop its agent) first, or pass --force to delete the claims and their VIPs now',
  };
}
