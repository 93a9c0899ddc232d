// BGP mode's rules across objects, pure: what the CRDs' CEL cannot see because it needs other objects, for the
// allocator's admission webhook (src/core/allocation/admission.ts). The speakers hold the same objects; the
// webhook refuses mistakes early with messages that name the object and the field.
//  - BGPPeer: no two peers with the same address and port whose nodeSelectors may both select a node (that node
//    would open two sessions to one router); a bfdProfile naming no BFDProfile is a warning.
//  - BGPAdvertisement: peers naming no BGPPeer are warnings; communities out of range are refused (the CRD checks
//    them too; this covers objects written before the rule, or with it off).
//  - BFDProfile: one a BGPPeer names may not be deleted.
import { BGP_PEER_DEFAULTS, WELL_KNOWN_COMMUNITIES } from '../../api/v1alpha1.ts';
import type { BFDProfile, BGPAdvertisement, BGPPeer, LabelSelector } from '../../api/v1alpha1.ts';
import { canonicalIP } from '../ip/index.ts';

export interface BGPObjects {
  readonly peers: readonly BGPPeer[];
  readonly advertisements: readonly BGPAdvertisement[];
  readonly profiles: readonly BFDProfile[];
}

/** What is wrong with an object: `refusals` stop it, `warnings` go back to the client with it admitted. */
export interface Findings {
  refusals: string[];
  warnings: string[];
}

const nameOf = (o: { metadata: { name?: string } }): string => o.metadata.name ?? '';

/**
 * Whether two node selectors may both select one node. Only a certain disjointness counts: both set matchLabels
 * with different values for one key. Anything else (an unset selector, expressions) is taken as overlapping.
 */
export function selectorsMayOverlap(a: LabelSelector | undefined, b: LabelSelector | undefined): boolean {
  const la = a?.matchLabels ?? {};
  const lb = b?.matchLabels ?? {};
  return !Object.keys(la).some((k) => Object.hasOwn(lb, k) && la[k] !== lb[k]);
}

/** The session endpoint of a peer, with the address in canonical form so that equal addresses compare equal. */
function endpoint(p: BGPPeer): string {
  const address = canonicalIP(p.spec.peerAddress) ?? p.spec.peerAddress;
  return `${address} port ${p.spec.peerPort ?? BGP_PEER_DEFAULTS.peerPort}`;
}

export function checkPeer(peer: BGPPeer, world: BGPObjects): Findings {
  const name = nameOf(peer);
  const refusals: string[] = [];
  const warnings: string[] = [];
  const mine = endpoint(peer);
  for (const other of world.peers) {
    if (nameOf(other) === name || endpoint(other) !== mine) continue;
    if (!selectorsMayOverlap(peer.spec.nodeSelector, other.spec.nodeSelector)) continue;
    refusals.push(
      `BGPPeer ${name} spec.peerAddress: ${mine} is also BGPPeer ${nameOf(other)}'s router, and their spec.nodeSelector may both select one LB node, which would open two sessions to it; ` +
        'give both peers matchLabels with different values for one label key, or make them one peer',
    );
  }
  const profile = peer.spec.bfdProfile;
  if (profile !== undefined && !world.profiles.some((p) => nameOf(p) === profile)) {
    warnings.push(`BGPPeer ${name} spec.bfdProfile: there is no BFDProfile ${profile} (yet)`);
  }
  return { refusals, warnings };
}

/** Why a community is out of range, or undefined when it is a well-known name or ASN:VALUE within 0..65535. */
export function communityProblem(text: string): string | undefined {
  if ((WELL_KNOWN_COMMUNITIES as readonly string[]).includes(text)) return undefined;
  const parts = text.split(':');
  if (parts.length !== 2 || !parts.every((p) => /^[0-9]{1,5}$/.test(p))) {
    return `${text} is not ASN:VALUE nor one of ${WELL_KNOWN_COMMUNITIES.join(', ')}`;
  }
  return parts.every((p) => Number(p) <= 65535)
    ? undefined
    : `${text} is out of range: each part of ASN:VALUE is 0 to 65535`;
}

/** Why a large community is out of range, or undefined when it is A:B:C with each part within 0..4294967295. */
export function largeCommunityProblem(text: string): string | undefined {
  const parts = text.split(':');
  if (parts.length !== 3 || !parts.every((p) => /^[0-9]{1,10}$/.test(p))) return `${text} is not A:B:C`;
  return parts.every((p) => Number(p) <= 4_294_967_295)
    ? undefined
    : `${text} is out of range: each part of A:B:C is 0 to 4294967295`;
}

export function checkAdvertisement(adv: BGPAdvertisement, world: BGPObjects): Findings {
  const name = nameOf(adv);
  const refusals: string[] = [];
  const warnings: string[] = [];
  (adv.spec.communities ?? []).forEach((c, i) => {
    const why = communityProblem(c);
    if (why) refusals.push(`BGPAdvertisement ${name} spec.communities[${i}]: ${why}`);
  });
  (adv.spec.largeCommunities ?? []).forEach((c, i) => {
    const why = largeCommunityProblem(c);
    if (why) refusals.push(`BGPAdvertisement ${name} spec.largeCommunities[${i}]: ${why}`);
  });
  (adv.spec.peers ?? []).forEach((peer, i) => {
    if (!world.peers.some((p) => nameOf(p) === peer)) {
      warnings.push(
        `BGPAdvertisement ${name} spec.peers[${i}]: there is no BGPPeer ${peer} (yet); nothing is advertised to it until it exists`,
      );
    }
  });
  return { refusals, warnings };
}

/** Deleting a BFDProfile that BGPPeers still name is refused. */
export function checkProfileDeletion(profile: BFDProfile, world: BGPObjects): Findings {
  const name = nameOf(profile);
  const users = world.peers.filter((p) => p.spec.bfdProfile === name).map(nameOf);
  return {
    refusals:
      users.length > 0
        ? [
            `BFDProfile ${name} is named in spec.bfdProfile of BGPPeer ${users.join(', ')}: change or delete those peers first`,
          ]
        : [],
    warnings: [],
  };
}
