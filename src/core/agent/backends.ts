// Which consumer nodes receive a Service's traffic (node InternalIP:NodePort), and whether each should get new
// flows. Pure: nodes and EndpointSlices in, sorted backends out.
import type { ClaimBackend } from '../../api/v1alpha1.ts';
import { isIPv4 } from './addresses.ts';
import type { EndpointSliceView, NodeView } from './views.ts';

/** The standard label: nodes carrying it (any value) are never load-balancer backends. */
export const EXCLUDE_LABEL = 'node.kubernetes.io/exclude-from-external-load-balancers';
export const ZONE_LABEL = 'topology.kubernetes.io/zone';
/** Cluster autoscaler's taint on a node it is about to remove: drain it, as cloud load balancers do. */
export const TO_BE_DELETED_TAINT = 'ToBeDeletedByClusterAutoscaler';

/** Why a node is not a backend at all; nodes that are backends but get no new flows carry ready: false. */
export type NodeExclusion = 'Deleting' | 'ExcludeLabel' | 'NoInternalIPv4';

export type NodeCandidate =
  | { eligible: true; backend: ClaimBackend }
  | { eligible: false; name: string; reason: NodeExclusion };

export function nodeCandidate(node: NodeView): NodeCandidate {
  const name = node.metadata?.name ?? '';
  if (node.metadata?.deletionTimestamp) return { eligible: false, name, reason: 'Deleting' };
  if (node.metadata?.labels && Object.hasOwn(node.metadata.labels, EXCLUDE_LABEL)) {
    return { eligible: false, name, reason: 'ExcludeLabel' };
  }
  const address = node.status?.addresses?.find((a) => a.type === 'InternalIP' && isIPv4(a.address))?.address;
  if (!address) return { eligible: false, name, reason: 'NoInternalIPv4' };
  const ready =
    node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true &&
    !node.spec?.taints?.some((t) => t.key === TO_BE_DELETED_TAINT);
  const zone = node.metadata?.labels?.[ZONE_LABEL];
  return { eligible: true, backend: { nodeName: name, address, ready, ...(zone ? { zone } : {}) } };
}

/** Per node, the best state of the Service's local endpoints: a ready one, or only serving-while-terminating. */
export type LocalEndpoints = 'Ready' | 'Terminating';

/**
 * Reads the Service's EndpointSlices (IPv4 ones: a dual-stack Service has one slice per family, listing the same
 * pods). Per the EndpointSlice API, an unset `ready` or `serving` means true and an unset `terminating` false.
 */
export function localEndpointsByNode(slices: readonly EndpointSliceView[]): Map<string, LocalEndpoints> {
  const byNode = new Map<string, LocalEndpoints>();
  for (const slice of slices) {
    if (slice.addressType !== undefined && slice.addressType !== 'IPv4') continue;
    for (const ep of slice.endpoints ?? []) {
      if (!ep.nodeName) continue;
      const terminating = ep.conditions?.terminating === true;
      const ready = ep.conditions?.ready ?? true;
      const serving = ep.conditions?.serving ?? ready;
      if (ready && !terminating) byNode.set(ep.nodeName, 'Ready');
      else if (serving && terminating && !byNode.has(ep.nodeName)) byNode.set(ep.nodeName, 'Terminating');
    }
  }
  return byNode;
}

/**
 * Backends, sorted by node name, one per address (the claim's backends are keyed by address).
 * - Cluster: every eligible node; `ready` is the node's own readiness.
 * - Local: only nodes with endpoints of the Service; ready when the node is ready and holds a ready endpoint,
 *   not ready (drain: existing flows only) when its endpoints are all terminating but still serving.
 */
export function backendsFor(
  trafficPolicy: 'Cluster' | 'Local',
  nodes: readonly NodeView[],
  slices: readonly EndpointSliceView[],
): ClaimBackend[] {
  const local = trafficPolicy === 'Local' ? localEndpointsByNode(slices) : undefined;
  const out: ClaimBackend[] = [];
  for (const node of nodes) {
    const c = nodeCandidate(node);
    if (!c.eligible) continue;
    if (local) {
      const state = local.get(c.backend.nodeName);
      if (!state) continue;
      out.push({ ...c.backend, ready: c.backend.ready && state === 'Ready' });
    } else {
      out.push(c.backend);
    }
  }
  out.sort((a, b) => (a.nodeName < b.nodeName ? -1 : a.nodeName > b.nodeName ? 1 : 0));
  const seen = new Set<string>();
  return out.filter((b) => !seen.has(b.address) && seen.add(b.address));
}
