// What FRR says about its BGP sessions and BFD peers, read from vtysh's JSON (`show bgp neighbors json`,
// `show bfd peers json`, FRR 8.x field names) into kube-lb's own types. Pure: the speaker's FRR shell runs vtysh
// and hands the text here. A field FRR leaves out becomes a neutral value (0, undefined, Unknown), never a throw:
// FRR omits many fields while a session is down; only output that is not JSON at all is an error.
import { type BFD_STATUSES, BGP_SESSION_STATES } from '../../api/v1alpha1.ts';
import { KubeLbError } from '../../shared/errors.ts';

// One list of states: the API's, which the CRD's enum is made of.
export { BFD_STATUSES, BGP_SESSION_STATES } from '../../api/v1alpha1.ts';
export type BgpSessionState = (typeof BGP_SESSION_STATES)[number];
export type BfdStatus = (typeof BFD_STATUSES)[number];

export interface NeighborState {
  /** The peer's address (or interface name, for an unnumbered session). */
  readonly peer: string;
  readonly remoteAs: number | undefined;
  readonly state: BgpSessionState;
  /**
   * Why the session is not (or was last not) up, in words: the last NOTIFICATION ("received: OPEN Message
   * Error/Bad Peer AS"), a reset reason, or for a session that never got a TCP connection what that usually means.
   * Undefined when nothing went wrong yet.
   */
  readonly lastError: string | undefined;
  /** How long the session has been Established; 0 when it is not. */
  readonly uptimeMs: number;
  /** Prefixes announced to the peer, over every address family. */
  readonly prefixesSent: number;
  /** Prefixes accepted from the peer, over every address family. */
  readonly prefixesReceived: number;
  /** How many times the session reached Established since the neighbor was configured (a reset adds one). */
  readonly establishedTransitions: number;
}

export interface BfdPeerState {
  readonly peer: string;
  readonly local: string | undefined;
  readonly interface: string | undefined;
  readonly status: BfdStatus;
  /** FRR's local diagnostic ("control detection time expired"), when not "ok". */
  readonly diagnostic: string | undefined;
  /** Time in the current status. */
  readonly sinceMs: number;
}

type Json = Record<string, unknown>;

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    const head = text.trim().slice(0, 200);
    throw new KubeLbError('BGP_FRR_OUTPUT', `${what}: FRR's answer is not JSON: ${JSON.stringify(head)}`);
  }
}

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

export function bgpSessionState(text: unknown): BgpSessionState {
  const s = typeof text === 'string' ? text : '';
  // FRR prints "Idle (Admin)", "Idle (PfxCt)" for shut-down sessions; Clearing and Deleted are on their way to Idle.
  if (s.startsWith('Idle') || s === 'Clearing' || s === 'Deleted') return 'Idle';
  return (BGP_SESSION_STATES as readonly string[]).includes(s) ? (s as BgpSessionState) : 'Unknown';
}

export function bfdStatus(text: unknown): BfdStatus {
  switch (text) {
    case 'up':
      return 'Up';
    case 'down':
      return 'Down';
    case 'init':
      return 'Init';
    case 'shutdown':
    case 'adm-down':
      return 'AdminDown';
    default:
      return 'Unknown';
  }
}

/** The readable reason a session is down, or last went down. */
export function neighborError(n: Json, state: BgpSessionState): string | undefined {
  const notification = str(n.lastNotificationReason);
  const resetDueTo = str(n.lastResetDueTo);
  const dropped = num(n.connectionsDropped) ?? 0;
  if (notification) {
    const direction = resetDueTo?.includes('received') ? 'received' : resetDueTo?.includes('send') ? 'sent' : '';
    return direction ? `NOTIFICATION ${direction}: ${notification}` : `NOTIFICATION: ${notification}`;
  }
  // OPENs exchanged and refused: FRR does not always keep the NOTIFICATION as the last reset (a session reset by
  // BFD or a configuration change keeps that reason), but its message counters tell which side said no.
  const stats = (n.messageStats ?? {}) as Json;
  if (state !== 'Established' && (num(stats.opensRecv) ?? 0) > 0) {
    if ((num(stats.notificationsSent) ?? 0) > 0)
      return "the peer answers, but this node refuses its OPEN (NOTIFICATION sent): the peer's AS is not spec.peerASN, or its router ID or capabilities are refused";
    if ((num(stats.notificationsRecv) ?? 0) > 0)
      return "the peer refuses this node's OPEN (NOTIFICATION received): check spec.myASN and the router's neighbor configuration for this node";
  }
  // FRR sets a reset reason from the start ("Waiting for peer OPEN"): it says something only after a drop.
  if (dropped > 0 && resetDueTo) return resetDueTo;
  if (state === 'Connect' || state === 'Active') {
    return num(n.authenticationEnabled) === 1 || n.authenticationEnabled === true
      ? 'no TCP connection to the peer (a TCP-MD5 password is set: a password mismatch drops the connection without a word)'
      : 'no TCP connection to the peer';
  }
  return undefined;
}

function neighbor(peer: string, n: Json): NeighborState {
  const state = bgpSessionState(n.bgpState);
  let sent = 0;
  let received = 0;
  const families = isObject(n.addressFamilyInfo) ? n.addressFamilyInfo : {};
  for (const af of Object.values(families)) {
    if (!isObject(af)) continue;
    sent += num(af.sentPrefixCounter) ?? 0;
    received += num(af.acceptedPrefixCounter) ?? 0;
  }
  return {
    peer,
    remoteAs: num(n.remoteAs),
    state,
    lastError: neighborError(n, state),
    uptimeMs: state === 'Established' ? (num(n.bgpTimerUpMsec) ?? 0) : 0,
    prefixesSent: sent,
    prefixesReceived: received,
    establishedTransitions: num(n.connectionsEstablished) ?? 0,
  };
}

/** `show bgp neighbors json` (the default VRF: an object keyed by peer), sorted by peer. */
export function parseNeighbors(text: string): NeighborState[] {
  // With no BGP instance configured FRR answers nothing or an empty object.
  if (text.trim() === '') return [];
  const doc = parseJson(text, 'show bgp neighbors json');
  if (!isObject(doc)) throw new KubeLbError('BGP_FRR_OUTPUT', 'show bgp neighbors json: not an object of neighbors');
  return Object.entries(doc)
    .filter((e): e is [string, Json] => isObject(e[1]) && 'bgpState' in e[1])
    .map(([peer, n]) => neighbor(peer, n))
    .sort((a, b) => a.peer.localeCompare(b.peer));
}

/** `show bfd peers json` (a list of sessions), sorted by peer. */
export function parseBfdPeers(text: string): BfdPeerState[] {
  if (text.trim() === '') return [];
  const doc = parseJson(text, 'show bfd peers json');
  if (!Array.isArray(doc)) throw new KubeLbError('BGP_FRR_OUTPUT', 'show bfd peers json: not a list of peers');
  return doc
    .filter(isObject)
    .map((p): BfdPeerState => {
      const status = bfdStatus(p.status);
      const diagnostic = str(p.diagnostic);
      const seconds = num(status === 'Up' ? p.uptime : p.downtime) ?? 0;
      return {
        peer: str(p.peer) ?? '',
        local: str(p.local),
        interface: str(p.interface),
        status,
        diagnostic: diagnostic === 'ok' ? undefined : diagnostic,
        sinceMs: seconds * 1000,
      };
    })
    .sort((a, b) => a.peer.localeCompare(b.peer));
}
