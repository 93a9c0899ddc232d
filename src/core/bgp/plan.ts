// What one LB node says over BGP: which peers it opens sessions to (BGPPeers whose nodeSelector picks it), and
// which prefixes it sends each peer with which attributes (BGPAdvertisements whose pool, node and peer selectors
// match a VIP this node serves). Pure: the speaker passes in the objects, the node's labels and the VIPs it
// serves (programmed here, with a backend to send to); the FRR configuration is rendered from the result
// (frr-config.ts). Every node plans alone from the same objects; only "served" differs between nodes.
import type { LabelSelector } from '../../api/v1alpha1.ts';
import { BITS, formatIP, parseIP } from '../ip/index.ts';
import { matchesSelector } from '../labels.ts';

export interface PeerInput {
  readonly name: string;
  readonly myASN: number;
  readonly peerASN: number;
  readonly peerAddress: string;
  readonly peerPort: number;
  readonly sourceAddress?: string | undefined;
  readonly holdTimeSeconds: number;
  readonly keepaliveTimeSeconds: number;
  readonly connectTimeSeconds?: number | undefined;
  /** The password read from the peer's Secret; undefined without one. */
  readonly password?: string | undefined;
  readonly ebgpMultiHop: boolean;
  readonly nodeSelector?: LabelSelector | undefined;
  readonly bfdProfile?: string | undefined;
}

export interface AdvertisementInput {
  readonly name: string;
  readonly poolSelector?: LabelSelector | undefined;
  readonly nodeSelector?: LabelSelector | undefined;
  /** BGPPeer names; empty: every peer. */
  readonly peers: readonly string[];
  readonly aggregationLength: number;
  readonly aggregationLengthV6: number;
  readonly communities: readonly string[];
  readonly largeCommunities: readonly string[];
  readonly localPref?: number | undefined;
}

export interface BfdProfileInput {
  readonly name: string;
  readonly receiveIntervalMs: number;
  readonly transmitIntervalMs: number;
  readonly detectMultiplier: number;
  readonly echoMode: boolean;
  readonly echoIntervalMs: number;
  readonly passiveMode: boolean;
  readonly minimumTtl: number;
}

/** A VIP this node serves, with its pool's labels for poolSelector. */
export interface ServedVip {
  readonly vip: string;
  readonly pool: string;
  readonly poolLabels: Readonly<Record<string, string>>;
}

export interface BgpInputs {
  readonly node: { readonly name: string; readonly labels: Readonly<Record<string, string>> };
  /** Router ID (an IPv4 address of the node); unset: the daemon picks one. */
  readonly routerId?: string | undefined;
  readonly peers: readonly PeerInput[];
  readonly advertisements: readonly AdvertisementInput[];
  readonly bfdProfiles: readonly BfdProfileInput[];
  readonly served: readonly ServedVip[];
}

/** The attributes one prefix carries to one peer. */
export interface PrefixAttributes {
  readonly communities: readonly string[];
  readonly largeCommunities: readonly string[];
  readonly localPref?: number | undefined;
}

export interface PlannedPrefix extends PrefixAttributes {
  /** CIDR text, canonical ("192.0.2.10/32"). */
  readonly prefix: string;
  readonly family: 4 | 6;
}

export interface PlannedPeer {
  readonly name: string;
  readonly address: string;
  readonly family: 4 | 6;
  readonly peer: PeerInput;
  readonly bfd?: BfdProfileInput | undefined;
  /** Sorted by prefix. */
  readonly prefixes: readonly PlannedPrefix[];
}

/** Something the plan could not honour as written; reported on the object it names, never fatal. */
export interface PlanProblem {
  readonly kind: 'BGPPeer' | 'BGPAdvertisement';
  readonly name: string;
  readonly field: string;
  readonly message: string;
}

export interface BgpPlan {
  /** The AS of the node's BGP instance: the myASN of the first selected peer by name (others use local-as). */
  readonly asn: number | undefined;
  readonly routerId?: string | undefined;
  /** Sorted by name. */
  readonly peers: readonly PlannedPeer[];
  /** Every prefix sent to some peer, sorted. */
  readonly prefixes: readonly string[];
  readonly problems: readonly PlanProblem[];
}

const byName = <T extends { readonly name: string }>(a: T, b: T): number =>
  a.name < b.name ? -1 : a.name > b.name ? 1 : 0;

/** `vip` masked to `length` bits, as canonical CIDR text; undefined for a VIP that does not parse. */
export function aggregatePrefix(vip: string, length4: number, length6: number): PlannedPrefix | undefined {
  const ip = parseIP(vip);
  if (!ip) return undefined;
  const bits = BITS[ip.family];
  const length = Math.min(bits, Math.max(0, ip.family === 4 ? length4 : length6));
  const hostBits = BigInt(bits - length);
  const value = (ip.value >> hostBits) << hostBits;
  return {
    prefix: `${formatIP({ family: ip.family, value })}/${length}`,
    family: ip.family,
    communities: [],
    largeCommunities: [],
  };
}

const sortedUnion = (a: readonly string[], b: readonly string[]): string[] => [...new Set([...a, ...b])].sort();

export function planBgp(inputs: BgpInputs): BgpPlan {
  const problems: PlanProblem[] = [];
  const profiles = new Map(inputs.bfdProfiles.map((p) => [p.name, p]));
  const selected = inputs.peers
    .filter((p) => matchesSelector(p.nodeSelector, inputs.node.labels))
    .sort(byName)
    .filter((p) => {
      const ip = parseIP(p.peerAddress);
      if (ip) return true;
      problems.push({ kind: 'BGPPeer', name: p.name, field: 'spec.peerAddress', message: 'not an IP address' });
      return false;
    });
  // Two peers at one address would be one session in the daemon: the first by name wins.
  const seen = new Map<string, string>();
  const peers = selected.filter((p) => {
    const key = formatIP(parseIP(p.peerAddress)!);
    const first = seen.get(key);
    if (first === undefined) {
      seen.set(key, p.name);
      return true;
    }
    problems.push({
      kind: 'BGPPeer',
      name: p.name,
      field: 'spec.peerAddress',
      message: `${key} is already the address of BGPPeer ${first} on node ${inputs.node.name}; this one is ignored`,
    });
    return false;
  });
  const ads = inputs.advertisements.filter((a) => matchesSelector(a.nodeSelector, inputs.node.labels)).sort(byName);

  const planned: PlannedPeer[] = [];
  const all = new Set<string>();
  for (const p of peers) {
    const ip = parseIP(p.peerAddress)!;
    let bfd: BfdProfileInput | undefined;
    if (p.bfdProfile !== undefined) {
      bfd = profiles.get(p.bfdProfile);
      if (!bfd) {
        problems.push({
          kind: 'BGPPeer',
          name: p.name,
          field: 'spec.bfdProfile',
          message: `BFDProfile ${p.bfdProfile} does not exist; the session runs without BFD`,
        });
      }
    }
    const byPrefix = new Map<string, { prefix: PlannedPrefix; from: string }>();
    for (const a of ads) {
      if (a.peers.length > 0 && !a.peers.includes(p.name)) continue;
      for (const v of inputs.served) {
        if (!matchesSelector(a.poolSelector, v.poolLabels)) continue;
        const agg = aggregatePrefix(v.vip, a.aggregationLength, a.aggregationLengthV6);
        // A VIP is sent to peers of its own family only (no extended next hops).
        if (!agg || agg.family !== ip.family) continue;
        const mine: PlannedPrefix = {
          ...agg,
          communities: [...a.communities].sort(),
          largeCommunities: [...a.largeCommunities].sort(),
          ...(a.localPref !== undefined ? { localPref: a.localPref } : {}),
        };
        const had = byPrefix.get(agg.prefix);
        if (!had) {
          byPrefix.set(agg.prefix, { prefix: mine, from: a.name });
          continue;
        }
        // Several advertisements for one prefix: communities add up; localPref must agree, the highest is kept.
        const h = had.prefix;
        let localPref = h.localPref ?? mine.localPref;
        if (h.localPref !== undefined && mine.localPref !== undefined && h.localPref !== mine.localPref) {
          localPref = Math.max(h.localPref, mine.localPref);
          problems.push({
            kind: 'BGPAdvertisement',
            name: a.name,
            field: 'spec.localPref',
            message: `${agg.prefix} to peer ${p.name}: localPref ${mine.localPref} differs from ${h.localPref} of BGPAdvertisement ${had.from}; ${localPref} is sent`,
          });
        }
        byPrefix.set(agg.prefix, {
          from: had.from,
          prefix: {
            prefix: h.prefix,
            family: h.family,
            communities: sortedUnion(h.communities, mine.communities),
            largeCommunities: sortedUnion(h.largeCommunities, mine.largeCommunities),
            ...(localPref !== undefined ? { localPref } : {}),
          },
        });
      }
    }
    const prefixes = [...byPrefix.values()]
      .map((x) => x.prefix)
      .sort((x, y) => (x.prefix < y.prefix ? -1 : x.prefix > y.prefix ? 1 : 0));
    for (const x of prefixes) all.add(x.prefix);
    planned.push({ name: p.name, address: formatIP(ip), family: ip.family, peer: p, bfd, prefixes });
  }
  return {
    asn: planned[0]?.peer.myASN,
    ...(inputs.routerId ? { routerId: inputs.routerId } : {}),
    peers: planned,
    prefixes: [...all].sort(),
    problems,
  };
}
