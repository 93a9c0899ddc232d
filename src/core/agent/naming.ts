// How a consumer Service maps to its VIPClaim in the tenant namespace: name, labels, finalizer.
import { LABELS } from '../../api/v1alpha1.ts';

/** On consumer Services the agent serves: deleting the Service waits until its claim (and VIP) is released. */
export const FINALIZER = 'kube-lb.io/load-balancer-cleanup';

/**
 * `<namespace>.<name>`. Namespaces are DNS labels and Service names DNS-1035 labels, so neither contains a dot:
 * the dot makes the mapping collision-free ("a-b/c" and "a/b-c" stay apart), readable in `kubectl get
 * vipclaims`, and at most 63 + 1 + 63 characters, well inside the 253 of an object name, so no hashing is needed.
 */
export function claimName(namespace: string, name: string): string {
  return `${namespace}.${name}`;
}

export function claimLabels(cluster: string, namespace: string, name: string): Record<string, string> {
  return { [LABELS.cluster]: cluster, [LABELS.serviceNamespace]: namespace, [LABELS.serviceName]: name };
}

/** Selects this agent's claims in its tenant namespace. */
export function claimSelector(cluster: string): string {
  return `${LABELS.cluster}=${cluster}`;
}
