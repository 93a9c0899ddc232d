// Who answers ARP for each VIP: the rendezvous winner among the live LB nodes that some L2Announcement makes
// eligible for the VIP's pool, on the interfaces the announcement picks on that node. Every speaker evaluates
// the same inputs (Leases, Nodes, L2Announcements, pools, claims) and reaches the same answer.
import type { LabelSelector } from '../../api/v1alpha1.ts';
import { matchesSelector } from '../labels.ts';
import { pickPublished, type InterfaceSelection } from './interfaces.ts';
import { rendezvousOwner } from './rendezvous.ts';

/** One L2Announcement, parsed. */
export interface AnnouncementRule {
  readonly name: string;
  /** Unset: every pool. */
  readonly poolSelector?: LabelSelector | undefined;
  /** Unset: every LB node. */
  readonly nodeSelector?: LabelSelector | undefined;
  /** Empty: the node's default-route interface. */
  readonly interfaces: InterfaceSelection;
}

/** A live LB node as the others see it: labels from its Node, interfaces from its Lease. */
export interface Member {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Interfaces the node reports as up and selectable by some announcement. */
  readonly interfaces: readonly string[];
  readonly defaultInterface?: string | undefined;
}

export interface VipInput {
  readonly vip: string;
  readonly pool: string;
  /** Labels of the VIPPool, for poolSelector. */
  readonly poolLabels: Readonly<Record<string, string>>;
}

/**
 * `addressInUse`: this node owns the VIP, but its duplicate-address probe heard another host answer for it, so it
 * does not announce it (set by the speaker after deciding, never by decideOwnership).
 */
export type OwnershipReason = 'owner' | 'notOwner' | 'noEligibleNode' | 'noMatchingAnnouncement' | 'addressInUse';

export interface OwnershipDecision {
  readonly vip: string;
  readonly reason: OwnershipReason;
  /** The node that answers, when there is one. */
  readonly owner: string | undefined;
  /** Interfaces the owner answers on (as the owner published them). */
  readonly interfaces: readonly string[];
  /** How many live nodes were eligible. */
  readonly eligible: number;
  /** With `addressInUse`: who answered the probe, on which of the owner's interfaces. */
  readonly inUse?: { readonly mac: string; readonly ifname: string } | undefined;
}

/** Interfaces `member` would answer on for a VIP of the pool with `poolLabels` (empty: not eligible). */
export function eligibleInterfaces(
  rules: readonly AnnouncementRule[],
  member: Member,
  poolLabels: VipInput['poolLabels'],
): string[] {
  const picked = new Set<string>();
  for (const rule of rules) {
    if (rule.poolSelector && !matchesSelector(rule.poolSelector, poolLabels)) continue;
    if (rule.nodeSelector && !matchesSelector(rule.nodeSelector, member.labels)) continue;
    for (const name of pickPublished(rule.interfaces, member.interfaces, member.defaultInterface)) picked.add(name);
  }
  return [...picked].sort();
}

/** Picks the owner among candidates; rendezvousOwner, or a memoizing equivalent (RendezvousScores.owner). */
export type OwnerPicker = (vip: string, candidates: Iterable<string>) => string | undefined;

export function decideOwnership(
  self: string,
  vip: VipInput,
  rules: readonly AnnouncementRule[],
  members: readonly Member[],
  pick: OwnerPicker = rendezvousOwner,
): OwnershipDecision {
  const matching = rules.filter((r) => !r.poolSelector || matchesSelector(r.poolSelector, vip.poolLabels));
  if (matching.length === 0) {
    return { vip: vip.vip, reason: 'noMatchingAnnouncement', owner: undefined, interfaces: [], eligible: 0 };
  }
  const byNode = new Map<string, string[]>();
  for (const m of members) {
    const ifs = eligibleInterfaces(matching, m, vip.poolLabels);
    if (ifs.length > 0) byNode.set(m.name, ifs);
  }
  const owner = pick(vip.vip, byNode.keys());
  if (owner === undefined)
    return { vip: vip.vip, reason: 'noEligibleNode', owner: undefined, interfaces: [], eligible: 0 };
  return {
    vip: vip.vip,
    reason: owner === self ? 'owner' : 'notOwner',
    owner,
    interfaces: byNode.get(owner) ?? [],
    eligible: byNode.size,
  };
}

/** The interfaces the local node must answer on, per VIP it owns. */
export function localAnnouncements(decisions: readonly OwnershipDecision[]): Map<string, readonly string[]> {
  const out = new Map<string, readonly string[]>();
  for (const d of decisions) if (d.reason === 'owner') out.set(d.vip, d.interfaces);
  return out;
}

/** Interfaces this node should publish: every usable local link that some rule could pick for some pool. */
export function publishableInterfaces(
  rules: readonly AnnouncementRule[],
  selfLabels: Readonly<Record<string, string>>,
  usableLinks: readonly string[],
  defaultInterface: string | undefined,
): string[] {
  const picked = new Set<string>();
  for (const rule of rules) {
    if (rule.nodeSelector && !matchesSelector(rule.nodeSelector, selfLabels)) continue;
    for (const name of pickPublished(rule.interfaces, usableLinks, defaultInterface)) picked.add(name);
  }
  return [...picked].sort();
}

export interface AnnouncementChange {
  readonly vip: string;
  readonly ifname: string;
}

/** What to add and remove to go from `current` to `desired` (VIP → interfaces). */
export function diffAnnouncements(
  current: ReadonlyMap<string, readonly string[]>,
  desired: ReadonlyMap<string, readonly string[]>,
): { add: AnnouncementChange[]; remove: AnnouncementChange[] } {
  const add: AnnouncementChange[] = [];
  const remove: AnnouncementChange[] = [];
  for (const [vip, ifs] of desired) {
    const have = current.get(vip) ?? [];
    for (const ifname of ifs) if (!have.includes(ifname)) add.push({ vip, ifname });
  }
  for (const [vip, ifs] of current) {
    const want = desired.get(vip) ?? [];
    for (const ifname of ifs) if (!want.includes(ifname)) remove.push({ vip, ifname });
  }
  return { add, remove };
}
