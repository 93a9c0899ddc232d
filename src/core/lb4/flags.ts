// Service flags (lb4_service.flags / flags2) and backend states, bit for bit as bpf/lib/common.h defines them.
import type { Lb4Profile } from './profile.ts';

export const SVC_FLAG = {
  EXTERNAL_IP: 0x01,
  NODEPORT: 0x02,
  EXT_LOCAL_SCOPE: 0x04,
  HOSTPORT: 0x08,
  AFFINITY: 0x10,
  LOADBALANCER: 0x20,
  ROUTABLE: 0x40,
  SOURCE_RANGE: 0x80,
} as const;

export const SVC_FLAG2 = {
  LOCALREDIRECT: 0x01,
  NAT_46X64: 0x02,
  L7_LOADBALANCER: 0x04,
  LOOPBACK: 0x08,
  INT_LOCAL_SCOPE: 0x10,
  TWO_SCOPES: 0x20,
  /** v1.17+: QUARANTINED on a slot entry, SOURCE_RANGE_DENY on a master. */
  QUARANTINED_OR_DENY: 0x40,
  /** v1.17+. */
  FWD_MODE_DSR: 0x80,
} as const;

/** flags of a plain LoadBalancer VIP with externalTrafficPolicy=Cluster. */
export const LB_VIP_FLAGS = SVC_FLAG.LOADBALANCER | SVC_FLAG.ROUTABLE;

/** lb4_backend.flags. For a non-active backend, existing flows drain and new flows pick another one. */
export const BACKEND_STATES = ['active', 'terminating', 'quarantined', 'maintenance'] as const;
export type BackendState = (typeof BACKEND_STATES)[number];

export function backendStateCode(state: BackendState): number {
  return BACKEND_STATES.indexOf(state);
}

export function backendStateName(code: number): BackendState | `unknown-${number}` {
  return BACKEND_STATES[code] ?? `unknown-${code}`;
}

/**
 * Words for a master's flags in the spirit of Cilium's ServiceFlags.String: the service type first, then
 * the modifiers. Used by the CLI only; nothing parses it.
 */
export function describeServiceFlags(flags: number, flags2: number, profile: Lb4Profile): string[] {
  const words: string[] = [];
  if (flags & SVC_FLAG.LOADBALANCER) words.push('LoadBalancer');
  else if (flags & SVC_FLAG.NODEPORT) words.push('NodePort');
  else if (flags & SVC_FLAG.EXTERNAL_IP) words.push('ExternalIPs');
  else if (flags & SVC_FLAG.HOSTPORT) words.push('HostPort');
  else if (flags2 & SVC_FLAG2.LOCALREDIRECT) words.push('LocalRedirect');
  else words.push('ClusterIP');
  if (flags & SVC_FLAG.EXT_LOCAL_SCOPE) words.push('Local');
  if (flags2 & SVC_FLAG2.INT_LOCAL_SCOPE) words.push('InternalLocal');
  if (flags2 & SVC_FLAG2.TWO_SCOPES) words.push('two-scopes');
  if (flags & SVC_FLAG.AFFINITY) words.push('sessionAffinity');
  if (flags & SVC_FLAG.SOURCE_RANGE) words.push('check source-range');
  if (!(flags & SVC_FLAG.ROUTABLE)) words.push('non-routable');
  if (flags2 & SVC_FLAG2.NAT_46X64) words.push('46x64');
  if (flags2 & SVC_FLAG2.L7_LOADBALANCER) words.push('l7-load-balancer');
  if (flags2 & SVC_FLAG2.LOOPBACK) words.push('loopback');
  if (profile.flags2HighBits && flags2 & SVC_FLAG2.QUARANTINED_OR_DENY) words.push('deny source-range');
  if (profile.flags2HighBits && flags2 & SVC_FLAG2.FWD_MODE_DSR) words.push('dsr');
  return words;
}
