// What the consumer cluster's Kubernetes keeps of what the agent writes, and what the Service says when a feature
// is missing. The agent supports consumer clusters from Kubernetes 1.24 (docs/compatibility.md). Everything it
// uses there is GA by 1.24 (loadBalancerClass, EndpointSlice v1, Service status.conditions, Leases, server-side
// apply) except ipMode: status.loadBalancer.ingress[].ipMode is alpha in 1.29 (LoadBalancerIPMode, off by
// default), beta and on in 1.30, GA in 1.32. An apiserver without it drops the field silently, so the version only
// gives the first guess; a status write that comes back without the ipMode it sent settles it.
import type { LoadBalancerIngressView } from './views.ts';

export interface ConsumerCapabilities {
  /** The consumer apiserver's gitVersion (for messages). */
  readonly version: string;
  /** Whether the apiserver keeps ingress[].ipMode. */
  readonly ipMode: boolean;
}

/** Until discovery answers: assume the newest behaviour (a write that loses ipMode corrects it). */
export const ASSUME_CURRENT: ConsumerCapabilities = { version: 'unknown', ipMode: true };

export const IP_MODE_UNSUPPORTED = 'IPModeUnsupported';

/** "v1.24.17" → 24; undefined for what does not parse. */
export function kubernetesMinor(gitVersion: string): number | undefined {
  const m = /^v?1\.(\d+)/.exec(gitVersion);
  return m ? Number(m[1]) : undefined;
}

/** The first guess from the version: 1.29 may have ipMode (behind its gate), so it is tried there. */
export function capabilitiesOf(gitVersion: string): ConsumerCapabilities {
  const minor = kubernetesMinor(gitVersion);
  return { version: gitVersion, ipMode: minor === undefined || minor >= 29 };
}

/** Whether a status write sent ipMode and the stored Service came back without it. */
export function ipModeDropped(
  sent: readonly LoadBalancerIngressView[] | undefined,
  stored: readonly LoadBalancerIngressView[] | undefined,
): boolean {
  return (sent ?? []).some((i) => i.ipMode !== undefined) && !(stored ?? []).some((i) => i.ipMode !== undefined);
}

/** What a Service gives up on a cluster without ipMode (its IPModeProxy condition); undefined where it is kept. */
export function ipModeGap(
  caps: ConsumerCapabilities,
  vip: string | undefined,
): { reason: string; message: string } | undefined {
  if (caps.ipMode) return undefined;
  const target = vip ?? 'the VIP';
  return {
    reason: IP_MODE_UNSUPPORTED,
    message:
      `Kubernetes ${caps.version} does not keep status.loadBalancer.ingress[].ipMode (1.30+, or 1.29 with the ` +
      `LoadBalancerIPMode feature gate): kube-proxy on this cluster's nodes sends connections to ${target} from pods ` +
      `and nodes straight to the Service's endpoints, past kube-lb. Clients outside the cluster are not affected. ` +
      `With kube-proxy in IPVS mode, set ipvs.strictARP=true. See docs/compatibility.md#ipmode`,
  };
}
