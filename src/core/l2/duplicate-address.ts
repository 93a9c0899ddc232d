// Duplicate-address detection before a VIP is announced for the first time (RFC 5227 style): the owner sends a
// few ARP probes (sender IP 0.0.0.0) and listens; if a host that is not a kube-lb node answers for the VIP, the
// VIP is not announced, and the probe is repeated with backoff until the address is free. Pure: the decisions
// and the bookkeeping, with the clock passed in. The probing itself is src/speaker/l2/dad.ts.
//
// Only VIPs new to the fleet are probed. On a failover between kube-lb nodes the previous owner is one of ours
// (its MAC would "answer") and the takeover has a budget of a few hundred milliseconds, so a VIP the fleet has
// announced before is taken over at once.
import { ARP_REPLY, ARP_REQUEST, ZERO_MAC, type ArpPacket } from './arp-frame.ts';
import { assertNever } from '../../shared/errors.ts';
import { backoffDelay } from '../../shared/backoff.ts';

/**
 * The MAC of a host that claims `vip` according to `p`, or undefined when `p` says nothing about it or comes from
 * a kube-lb node (`ours`: every LB node's announcing MACs, lower case). A host holding the VIP answers our probe
 * (a reply with sender IP = VIP) or announces it itself (any ARP with sender IP = VIP); a host probing for the same
 * address at the same moment (sender IP 0.0.0.0, target IP = VIP, RFC 5227 section 2.1.1) also makes it unusable.
 */
export function claimantOf(p: ArpPacket, vip: string, ours: ReadonlySet<string>): string | undefined {
  if (p.op !== ARP_REQUEST && p.op !== ARP_REPLY) return undefined;
  const mac = p.senderMac.toLowerCase();
  if (ours.has(mac) || mac === ZERO_MAC) return undefined;
  if (p.senderIp === vip) return mac;
  if (p.op === ARP_REQUEST && p.senderIp === '0.0.0.0' && p.targetIp === vip) return mac;
  return undefined;
}

export interface DadRetry {
  /** Delay before the first re-probe after a conflict; doubles per conflict in a row. */
  readonly minMs: number;
  readonly maxMs: number;
}

/** A VIP some other host answers for: not announced until a later probe finds it free. */
export interface AddressInUse {
  readonly vip: string;
  /** The MAC that answered (the last conflict). */
  readonly mac: string;
  readonly ifname: string;
  /** Conflicts in a row. */
  readonly conflicts: number;
  /** When the next probe may start (the caller's clock). */
  readonly retryAt: number;
}

export type DadStep =
  /** Announce now: no probe needed, or the last probe found the address free. */
  | { readonly action: 'announce' }
  /** Start a probe now (none ran, or a conflict's backoff ran out); `inUse`: the conflict still reported meanwhile. */
  | { readonly action: 'probe'; readonly inUse?: AddressInUse | undefined }
  /** A probe is under way, or a conflict waits for its retry. */
  | { readonly action: 'wait'; readonly inUse?: AddressInUse | undefined };

export function retryDelayMs(conflicts: number, retry: DadRetry): number {
  return backoffDelay({ initialMs: retry.minMs, maxMs: retry.maxMs, jitter: 'none' }, Math.max(1, conflicts));
}

type State =
  | { readonly kind: 'probing'; readonly inUse?: AddressInUse | undefined }
  | { readonly kind: 'free' }
  | { readonly kind: 'inUse'; readonly inUse: AddressInUse };

/** What the node knows about each VIP it wants to announce for the first time. */
export class DuplicateAddressBook {
  readonly #retry: DadRetry;
  readonly #states = new Map<string, State>();

  constructor(retry: DadRetry) {
    this.#retry = retry;
  }

  /** What to do with `vip`, which this node owns and the fleet never announced. */
  step(vip: string, now: number): DadStep {
    const s = this.#states.get(vip);
    if (!s) return { action: 'probe' };
    switch (s.kind) {
      case 'free':
        return { action: 'announce' };
      case 'probing':
        return { action: 'wait', inUse: s.inUse };
      case 'inUse':
        return now >= s.inUse.retryAt ? { action: 'probe', inUse: s.inUse } : { action: 'wait', inUse: s.inUse };
      default:
        return assertNever(s, 'kind');
    }
  }

  started(vip: string): void {
    const s = this.#states.get(vip);
    this.#states.set(vip, {
      kind: 'probing',
      inUse: s?.kind === 'inUse' ? s.inUse : s?.kind === 'probing' ? s.inUse : undefined,
    });
  }

  /** A probe found the address free. Ignored when the VIP was forgotten meanwhile. */
  free(vip: string): void {
    if (this.#states.get(vip)?.kind === 'probing') this.#states.set(vip, { kind: 'free' });
  }

  /** A probe heard `mac` claim the VIP; returns the conflict (undefined when the VIP was forgotten meanwhile). */
  taken(vip: string, mac: string, ifname: string, now: number): AddressInUse | undefined {
    const s = this.#states.get(vip);
    if (s?.kind !== 'probing') return undefined;
    const conflicts = (s.inUse?.conflicts ?? 0) + 1;
    const inUse: AddressInUse = { vip, mac, ifname, conflicts, retryAt: now + retryDelayMs(conflicts, this.#retry) };
    this.#states.set(vip, { kind: 'inUse', inUse });
    return inUse;
  }

  /** Forgets what is known of `vip` (a probe that could not run): the next step probes again. */
  forget(vip: string): void {
    this.#states.delete(vip);
  }

  /** Drops VIPs no longer wanted (not owned, or announced: an announced VIP needs no further probe). */
  retain(wanted: ReadonlySet<string>): void {
    for (const vip of this.#states.keys()) if (!wanted.has(vip)) this.#states.delete(vip);
  }

  /** The earliest retry among conflicts (for a timer), or undefined. */
  nextRetryAt(): number | undefined {
    let at: number | undefined;
    for (const s of this.#states.values()) if (s.kind === 'inUse') at = Math.min(at ?? Infinity, s.inUse.retryAt);
    return at;
  }
}
