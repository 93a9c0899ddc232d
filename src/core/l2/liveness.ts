// Which LB nodes are alive, from one Lease per node (the ground truth) and, optionally, UDP heartbeats between
// speakers (fast evidence of death). Pure: all times are local monotonic milliseconds passed in.
//
// Rules for a peer, when our own view of the API is fresh:
//   - no Lease, or a Lease marked leaving                   → dead (noLease / leaving)
//   - Lease not seen renewed for its duration               → dead (leaseExpired)
//   - a "bye" heartbeat arrived after the last renewal seen, and its Lease says leaving → dead (bye)
//   - heartbeats stopped for longer than the probe timeout   → dead (probeSilent), unless the Lease was seen
//     renewed after the heartbeats stopped: then the probe path is broken, not the node, and the Lease wins
//   - otherwise                                              → live (leaseValid)
// Leases are judged by when *we* saw them renewed, not by the renewTime the peer wrote, so clock skew between
// nodes does not matter. After our view of the API was stale, every Lease gets a full duration from the moment
// the view became fresh again, so an API outage does not make every peer look dead at once.
//
// When our view of the API is stale (we cannot renew our own Lease), the Leases say nothing new: the speaker
// keeps the last set it computed from fresh data and only drops peers whose heartbeats prove them dead. It
// never withdraws everything because of an API error.

export interface LeaseView {
  /** Lease duration the peer wrote (leaseDurationSeconds), in ms. */
  readonly durationMs: number;
  readonly leaving: boolean;
}

export interface PeerObservation {
  readonly name: string;
  /** Undefined when the Lease does not exist (deleted, never created). */
  readonly lease: LeaseView | undefined;
  /** Local time at which we last saw the Lease's renewTime change (or first saw the Lease). */
  readonly leaseSeenRenewedAt: number;
  /** Local time of the last heartbeat received; undefined if none ever arrived (probes off or blocked). */
  readonly lastHeardAt?: number | undefined;
  /** Local time a "bye" (graceful stop) heartbeat arrived. */
  readonly byeAt?: number | undefined;
}

export interface LivenessInput {
  readonly self: string;
  /** The local node is leaving (graceful stop): it no longer counts itself. */
  readonly selfLeaving: boolean;
  readonly now: number;
  /** Our last own-Lease renewal succeeded within its duration. */
  readonly apiFresh: boolean;
  /** Local time our view last became fresh (after start or after an outage). */
  readonly apiFreshSince: number;
  /** Live set computed from the last fresh view; used while the view is stale. */
  readonly lastFreshLive: readonly string[];
  /** Heartbeat timeout in ms; undefined when fast probes are off. */
  readonly probeTimeoutMs: number | undefined;
  readonly peers: readonly PeerObservation[];
}

export type LivenessReason =
  | 'self'
  | 'selfLeaving'
  | 'leaseValid'
  | 'noLease'
  | 'leaving'
  | 'leaseExpired'
  | 'bye'
  | 'probeSilent'
  | 'lastKnown'
  | 'notLastKnown';

export interface Verdict {
  readonly live: boolean;
  readonly reason: LivenessReason;
}

export interface LivenessResult {
  /** Sorted names of the live nodes, self included unless leaving. */
  readonly live: string[];
  readonly verdicts: ReadonlyMap<string, Verdict>;
}

function probeVerdict(p: PeerObservation, input: LivenessInput, renewedAt: number): Verdict | undefined {
  // A bye is believed only from a peer whose Lease says it is leaving (it marks the Lease before saying bye): a
  // forged or replayed bye alone moves nothing. That matters when the API view is stale: the Lease seen last decides.
  if (p.byeAt !== undefined && p.byeAt >= renewedAt && p.lease?.leaving === true) return { live: false, reason: 'bye' };
  const timeout = input.probeTimeoutMs;
  if (timeout === undefined || p.lastHeardAt === undefined) return undefined;
  const silent = input.now - p.lastHeardAt > timeout;
  const leaseOutlivedProbes = renewedAt > p.lastHeardAt + timeout;
  return silent && !leaseOutlivedProbes ? { live: false, reason: 'probeSilent' } : undefined;
}

function freshVerdict(p: PeerObservation, input: LivenessInput): Verdict {
  if (!p.lease) return { live: false, reason: 'noLease' };
  if (p.lease.leaving) return { live: false, reason: 'leaving' };
  const renewedAt = Math.max(p.leaseSeenRenewedAt, input.apiFreshSince);
  if (input.now - renewedAt >= p.lease.durationMs) return { live: false, reason: 'leaseExpired' };
  return probeVerdict(p, input, p.leaseSeenRenewedAt) ?? { live: true, reason: 'leaseValid' };
}

function staleVerdict(p: PeerObservation, input: LivenessInput): Verdict {
  if (!input.lastFreshLive.includes(p.name)) return { live: false, reason: 'notLastKnown' };
  return probeVerdict(p, input, p.leaseSeenRenewedAt) ?? { live: true, reason: 'lastKnown' };
}

export function evaluateLiveness(input: LivenessInput): LivenessResult {
  const verdicts = new Map<string, Verdict>();
  verdicts.set(input.self, input.selfLeaving ? { live: false, reason: 'selfLeaving' } : { live: true, reason: 'self' });
  for (const p of input.peers) {
    if (p.name === input.self) continue;
    verdicts.set(p.name, input.apiFresh ? freshVerdict(p, input) : staleVerdict(p, input));
  }
  const live = [...verdicts]
    .filter(([, v]) => v.live)
    .map(([name]) => name)
    .sort();
  return { live, verdicts };
}
