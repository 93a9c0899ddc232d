// One consumer Service (plus the cluster's nodes and the Service's EndpointSlices) → the VIPClaim the LB side
// needs, or a refusal with a reason the user sees as an Event and a condition on the Service.
import {
  ANNOTATIONS,
  API_VERSION,
  type ClaimPort,
  type Protocol,
  type VIPClaim,
  type VIPClaimSpec,
} from '../../api/v1alpha1.ts';
import { ipv4Network, isIPv4 } from './addresses.ts';
import { backendsFor } from './backends.ts';
import { claimLabels, claimName } from './naming.ts';
import type { EndpointSliceView, NodeView, ServiceView } from './views.ts';

/** The legacy annotation Kubernetes honours when spec.loadBalancerSourceRanges is empty. */
export const SOURCE_RANGES_ANNOTATION = 'service.beta.kubernetes.io/load-balancer-source-ranges';
/** Kubernetes' default ClientIP affinity timeout (3 hours). */
export const DEFAULT_AFFINITY_TIMEOUT_SECONDS = 10_800;
/** The VIPClaim schema's bound on requested IPs. */
export const MAX_REQUESTED_IPS = 8;

export const REFUSALS = {
  /** A port has no nodePort (allocateLoadBalancerNodePorts: false): the LB delivers to node IP:NodePort. */
  NodePortMissing: 'NodePortMissing',
  /** IPv6-only Service: kube-lb serves IPv4 VIPs. */
  UnsupportedIPFamily: 'UnsupportedIPFamily',
  /** A kube-lb annotation or spec.loadBalancerIP that cannot be used. */
  InvalidRequestedIP: 'InvalidRequestedIP',
  InvalidSourceRange: 'InvalidSourceRange',
  UnsupportedProtocol: 'UnsupportedProtocol',
  NoPorts: 'NoPorts',
} as const;
export type RefusalReason = (typeof REFUSALS)[keyof typeof REFUSALS];

export interface ClaimContext {
  /** This agent's ConsumerCluster name. */
  cluster: string;
  tenantNamespace: string;
}

export type DesiredClaim = { ok: true; claim: VIPClaim } | { ok: false; reason: RefusalReason; message: string };

const refuse = (reason: RefusalReason, message: string): DesiredClaim => ({ ok: false, reason, message });

const PROTOCOLS: readonly string[] = ['TCP', 'UDP', 'SCTP'] satisfies Protocol[];

export function desiredClaim(
  svc: ServiceView,
  nodes: readonly NodeView[],
  slices: readonly EndpointSliceView[],
  ctx: ClaimContext,
): DesiredClaim {
  const namespace = svc.metadata?.namespace ?? '';
  const name = svc.metadata?.name ?? '';
  const spec = svc.spec ?? {};
  const annotations = svc.metadata?.annotations ?? {};

  const families = spec.ipFamilies;
  if (families && families.length > 0 && !families.includes('IPv4')) {
    return refuse(REFUSALS.UnsupportedIPFamily, `ipFamilies ${families.join(',')}: kube-lb serves IPv4 VIPs only`);
  }

  const ports: ClaimPort[] = [];
  for (const p of spec.ports ?? []) {
    const protocol = p.protocol ?? 'TCP';
    if (!PROTOCOLS.includes(protocol))
      return refuse(REFUSALS.UnsupportedProtocol, `port ${p.port}: protocol ${protocol}`);
    if (!p.nodePort) {
      return refuse(
        REFUSALS.NodePortMissing,
        `port ${p.port}/${protocol} has no nodePort: kube-lb delivers to node IP:NodePort, so allocateLoadBalancerNodePorts must not be false`,
      );
    }
    ports.push({
      ...(p.name ? { name: p.name } : {}),
      protocol: protocol as Protocol,
      port: p.port,
      nodePort: p.nodePort,
    });
  }
  if (ports.length === 0) return refuse(REFUSALS.NoPorts, 'the Service has no ports');

  const requested = requestedIPs(annotations, spec.loadBalancerIP);
  if (!requested.ok) return refuse(REFUSALS.InvalidRequestedIP, requested.message);

  const ranges = sourceRanges(spec.loadBalancerSourceRanges, annotations[SOURCE_RANGES_ANNOTATION]);
  if (!ranges.ok) return refuse(REFUSALS.InvalidSourceRange, ranges.message);

  const policy = spec.externalTrafficPolicy === 'Local' ? 'Local' : 'Cluster';
  const claimSpec: VIPClaimSpec = {
    service: { cluster: ctx.cluster, namespace, name, uid: svc.metadata?.uid ?? '' },
    ports,
    backends: backendsFor(policy, nodes, slices),
    externalTrafficPolicy: policy,
    sessionAffinity:
      spec.sessionAffinity === 'ClientIP'
        ? {
            type: 'ClientIP',
            timeoutSeconds: spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? DEFAULT_AFFINITY_TIMEOUT_SECONDS,
          }
        : { type: 'None' },
  };
  const labels = svc.metadata?.labels;
  if (labels && Object.keys(labels).length > 0) claimSpec.serviceLabels = { ...labels };
  const pool = annotations[ANNOTATIONS.pool]?.trim();
  if (pool) claimSpec.pool = pool;
  if (requested.ips.length > 0) claimSpec.requestedIPs = requested.ips;
  const sharingKey = annotations[ANNOTATIONS.sharingKey]?.trim();
  if (sharingKey) claimSpec.sharingKey = sharingKey;
  if (policy === 'Local' && spec.healthCheckNodePort) claimSpec.healthCheckNodePort = spec.healthCheckNodePort;
  if (ranges.cidrs.length > 0) claimSpec.loadBalancerSourceRanges = ranges.cidrs;

  return {
    ok: true,
    claim: {
      apiVersion: API_VERSION,
      kind: 'VIPClaim',
      metadata: {
        name: claimName(namespace, name),
        namespace: ctx.tenantNamespace,
        labels: claimLabels(ctx.cluster, namespace, name),
      },
      spec: claimSpec,
    },
  };
}

const splitList = (text: string): string[] =>
  text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);

/** The kube-lb annotation (a list, in order of preference) wins over spec.loadBalancerIP. */
function requestedIPs(
  annotations: Record<string, string>,
  loadBalancerIP: string | undefined,
): { ok: true; ips: string[] } | { ok: false; message: string } {
  const fromAnnotation = annotations[ANNOTATIONS.requestedIPs];
  const source = fromAnnotation !== undefined ? `annotation ${ANNOTATIONS.requestedIPs}` : 'spec.loadBalancerIP';
  const ips = [...new Set(splitList(fromAnnotation ?? loadBalancerIP ?? ''))];
  const bad = ips.find((ip) => !isIPv4(ip));
  if (bad !== undefined) return { ok: false, message: `${source}: ${JSON.stringify(bad)} is not an IPv4 address` };
  if (ips.length > MAX_REQUESTED_IPS) {
    return { ok: false, message: `${source}: ${ips.length} addresses, at most ${MAX_REQUESTED_IPS}` };
  }
  return { ok: true, ips };
}

/** spec.loadBalancerSourceRanges, else the legacy annotation; IPv4 CIDRs are written as their network. */
function sourceRanges(
  fromSpec: readonly string[] | undefined,
  annotation: string | undefined,
): { ok: true; cidrs: string[] } | { ok: false; message: string } {
  const raw = fromSpec && fromSpec.length > 0 ? [...fromSpec] : splitList(annotation ?? '');
  const cidrs: string[] = [];
  for (const r of raw) {
    const text = r.trim();
    if (text.includes(':')) {
      // IPv6 ranges are passed on unchanged (the claim schema checks them): dropping one would widen access.
      cidrs.push(text);
      continue;
    }
    const net = ipv4Network(text);
    if (!net) return { ok: false, message: `source range ${JSON.stringify(text)} is not a CIDR` };
    cidrs.push(net);
  }
  return { ok: true, cidrs: [...new Set(cidrs)] };
}
