// What a VIPClaim's Announced condition says, and which speaker writes it. Exactly one speaker writes per VIP so
// that nodes never fight over a claim's status: the owner when there is one, otherwise the rendezvous winner
// among all live nodes (everyone computes the same reporter, as for ownership).
import { CLAIM_CONDITIONS } from '../../api/v1alpha1.ts';
import type { ConditionInput } from '../conditions.ts';
import type { OwnershipDecision } from './ownership.ts';
import { rendezvousOwner } from './rendezvous.ts';
import { assertNever } from '../../shared/errors.ts';

export const ANNOUNCED_REASONS = {
  Announced: 'Announced',
  NoEligibleNode: 'NoEligibleNode',
  NoMatchingAnnouncement: 'NoMatchingAnnouncement',
  AddressInUse: 'AddressInUse',
} as const;

export interface AnnouncedStatus {
  readonly announcedBy: string | undefined;
  readonly condition: ConditionInput;
}

export function announcedStatus(d: OwnershipDecision, pool: string): AnnouncedStatus {
  switch (d.reason) {
    case 'owner':
    case 'notOwner':
      return {
        announcedBy: d.owner,
        condition: {
          type: CLAIM_CONDITIONS.Announced,
          status: 'True',
          reason: ANNOUNCED_REASONS.Announced,
          message: `node ${d.owner} answers ARP for ${d.vip} on ${d.interfaces.join(', ')} (${d.eligible} eligible)`,
        },
      };
    case 'addressInUse':
      return {
        announcedBy: undefined,
        condition: {
          type: CLAIM_CONDITIONS.Announced,
          status: 'False',
          reason: ANNOUNCED_REASONS.AddressInUse,
          // Stable while the conflict lasts (no retry count or time in it), so the retries cost no status writes.
          message: `${d.vip} is in use on the segment: ${d.inUse?.mac ?? 'another host'} answered the duplicate-address probe of node ${d.owner} on ${d.inUse?.ifname ?? d.interfaces.join(', ')}; not announced, probed again with backoff until it is free`,
        },
      };
    case 'noEligibleNode':
      return {
        announcedBy: undefined,
        condition: {
          type: CLAIM_CONDITIONS.Announced,
          status: 'False',
          reason: ANNOUNCED_REASONS.NoEligibleNode,
          message: `no live LB node with a usable interface is selected for pool ${pool}`,
        },
      };
    case 'noMatchingAnnouncement':
      return {
        announcedBy: undefined,
        condition: {
          type: CLAIM_CONDITIONS.Announced,
          status: 'False',
          reason: ANNOUNCED_REASONS.NoMatchingAnnouncement,
          message: `no L2Announcement selects pool ${pool}`,
        },
      };
    default:
      return assertNever(d.reason, 'reason');
  }
}

/** The one node that writes the Announced status of `d`'s VIP. */
export function reporterFor(d: OwnershipDecision, live: readonly string[]): string | undefined {
  return d.owner ?? rendezvousOwner(d.vip, live);
}
