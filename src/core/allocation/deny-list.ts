// Addresses that are never a backend, whatever a tenant's ranges say, beyond the fixed special-purpose blocks
// (reservedBlockOf) and the VIPPools: the LB cluster's own Service ranges and apiserver (a backend there would put
// the LB cluster's control plane behind a tenant's public VIP), and whatever the operator adds. Built from the
// objects that say so (ServiceCIDRs, the `kubernetes` EndpointSlice, the deny-list ConfigMap); backendRefusal
// (validate.ts) consults it for the allocator, its webhook and every speaker alike. Pure.
import { formatIP, parseCIDR, parseIP, rangeContains, type IPAddr, type IPRange } from '../ip/index.ts';

export interface DeniedRange {
  readonly range: IPRange;
  /** What the range is and where the rule comes from, to follow "is"/"is in" in a refusal. */
  readonly what: string;
}

/** The deny-list ConfigMap: `kube-lb-system/kube-lb-backend-deny-list`, key `cidrs`. */
export const DENY_LIST_CONFIGMAP = 'kube-lb-backend-deny-list';
export const DENY_LIST_KEY = 'cidrs';

export interface LBClusterAddresses {
  /** networking.k8s.io ServiceCIDR objects: name and spec.cidrs. */
  readonly serviceCIDRs: readonly { readonly name: string; readonly cidrs: readonly string[] }[];
  /** Addresses of the `kubernetes` Service's EndpointSlices in `default`: the apiservers. */
  readonly apiservers: readonly string[];
  /** The operator's entries (CIDRs or addresses) and where they were configured, for messages. */
  readonly configured: { readonly source: string; readonly entries: readonly string[] } | undefined;
}

export interface DenyList {
  readonly denied: readonly DeniedRange[];
  /** Configured entries that are not a CIDR or an address, with why (the caller logs them). */
  readonly invalid: readonly string[];
}

const single = (ip: IPAddr): IPRange => ({ family: ip.family, first: ip.value, last: ip.value });

/** A CIDR (host bits allowed: 10.0.0.1/8 means 10.0.0.0/8) or a single address. */
function parseEntry(text: string): IPRange | string {
  if (text.includes('/')) {
    const c = parseCIDR(text);
    return c.ok ? c.value.range : c.reason;
  }
  const ip = parseIP(text);
  return ip ? single(ip) : `${text} is neither a CIDR nor an IP address`;
}

/** Splits a configured list: commas, spaces or newlines between entries, `#` comments to the end of a line. */
export function splitEntries(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.replace(/#.*/, ''))
    .flatMap((line) => line.split(/[\s,]+/))
    .filter(Boolean);
}

export function lbClusterDenyList(input: LBClusterAddresses): DenyList {
  const denied: DeniedRange[] = [];
  const invalid: string[] = [];
  for (const sc of input.serviceCIDRs) {
    for (const text of sc.cidrs) {
      const r = parseEntry(text);
      if (typeof r !== 'string')
        denied.push({ range: r, what: `in the LB cluster's Service range ${text} (ServiceCIDR ${sc.name})` });
    }
  }
  for (const text of input.apiservers) {
    const ip = parseIP(text);
    if (ip)
      denied.push({
        range: single(ip),
        what: `the LB cluster's apiserver ${formatIP(ip)} (EndpointSlice default/kubernetes)`,
      });
  }
  for (const text of input.configured?.entries ?? []) {
    const r = parseEntry(text);
    if (typeof r === 'string') invalid.push(`${input.configured!.source}: ${r}`);
    else denied.push({ range: r, what: `in ${text}, denied by ${input.configured!.source}` });
  }
  return { denied, invalid };
}

/** The first rule that denies `ip`, or undefined. */
export function deniedBy(ip: IPAddr, denied: readonly DeniedRange[] | undefined): DeniedRange | undefined {
  return denied?.find((d) => rangeContains(d.range, ip));
}
