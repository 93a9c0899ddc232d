// Which consumer Services this agent serves, with the reason, so logs and tests can say why one was skipped.
import { LOAD_BALANCER_CLASS } from '../../api/v1alpha1.ts';
import type { ServiceView } from './views.ts';

export type Selection =
  | { ours: true; reason: 'ClassMatches' | 'DefaultClass' }
  | { ours: false; reason: 'NotLoadBalancer' | 'OtherClass' | 'NoClass' };

export interface SelectionPolicy {
  /** Serve LoadBalancer Services that name no class (kube-lb is the cluster's default implementation). */
  defaultClass: boolean;
}

export function selectService(svc: ServiceView, policy: SelectionPolicy): Selection {
  if (svc.spec?.type !== 'LoadBalancer') return { ours: false, reason: 'NotLoadBalancer' };
  const cls = svc.spec.loadBalancerClass;
  if (cls === LOAD_BALANCER_CLASS) return { ours: true, reason: 'ClassMatches' };
  if (cls) return { ours: false, reason: 'OtherClass' };
  return policy.defaultClass ? { ours: true, reason: 'DefaultClass' } : { ours: false, reason: 'NoClass' };
}
