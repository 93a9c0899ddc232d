// The FRR configuration (frr.conf text) of one LB node's BGP plan. The speaker hands the whole text to
// frr-reload.py, which applies only what changed, so the text must be a pure function of the plan: the same plan
// gives byte-identical text, and a change to one peer touches only that peer's lines (sessions whose lines did
// not change are never reset). Every prefix is a `network` statement (import-check off: the VIP is not in the
// node's RIB) whose route-map tags it with its group (prefixes that every peer gets alike); each peer gets what is
// planned for it through its own outbound route-map, one entry per group matched by tag, and takes nothing in.
import type { BfdProfileInput, BgpPlan, PlannedPeer, PlannedPrefix } from './plan.ts';

/** The line that keeps FRR from advertising the graceful-restart capability (frr-diff.ts creates the instance with it). */
export const GRACEFUL_RESTART_OFF = 'bgp graceful-restart-disable';

/** Outbound route-map of a peer; peer names are DNS subdomains, valid in FRR names. */
export const outMap = (peer: string): string => `kube-lb-out-${peer}`;
/** The route-map every peer's inbound routes go through: deny all (an LB node routes nothing it learns). */
export const IN_MAP = 'kube-lb-in';
/** Seconds between connection attempts to a peer when BGPPeer.spec.connectTimeSeconds is unset. */
export const DEFAULT_CONNECT_RETRY_S = 5;

/** Why a password cannot be given to FRR (its CLI takes one word), or undefined. */
export function passwordProblem(password: string): string | undefined {
  if (password.length === 0) return 'the password is empty';
  if (/\s/.test(password)) return 'the password contains white space, which FRR cannot take';
  if (password.length > 80) return 'the password is longer than 80 characters (TCP MD5 allows 80)';
  return undefined;
}

/** FRR's BFD profile defaults: its running configuration omits them, and so does ours (frr-reload.py diffs text). */
const BFD_DEFAULTS = {
  detectMultiplier: 3,
  receiveIntervalMs: 300,
  transmitIntervalMs: 300,
  echoIntervalMs: 50,
  minimumTtl: 254,
} as const;

function bfdBlock(profiles: readonly BfdProfileInput[]): string[] {
  if (profiles.length === 0) return [];
  const out = ['bfd'];
  for (const p of profiles) {
    out.push(` profile ${p.name}`);
    if (p.detectMultiplier !== BFD_DEFAULTS.detectMultiplier) out.push(`  detect-multiplier ${p.detectMultiplier}`);
    if (p.receiveIntervalMs !== BFD_DEFAULTS.receiveIntervalMs) out.push(`  receive-interval ${p.receiveIntervalMs}`);
    if (p.transmitIntervalMs !== BFD_DEFAULTS.transmitIntervalMs)
      out.push(`  transmit-interval ${p.transmitIntervalMs}`);
    if (p.echoMode) out.push('  echo-mode');
    if (p.echoMode && p.echoIntervalMs !== BFD_DEFAULTS.echoIntervalMs) {
      out.push(`  echo transmit-interval ${p.echoIntervalMs}`, `  echo receive-interval ${p.echoIntervalMs}`);
    }
    if (p.passiveMode) out.push('  passive-mode');
    if (p.minimumTtl !== BFD_DEFAULTS.minimumTtl) out.push(`  minimum-ttl ${p.minimumTtl}`);
    out.push(' exit');
  }
  out.push('exit', '!');
  return out;
}

function neighborLines(asn: number, p: PlannedPeer): string[] {
  const a = p.address;
  const s = p.peer;
  const out = [` neighbor ${a} remote-as ${s.peerASN}`];
  if (s.myASN !== asn) out.push(` neighbor ${a} local-as ${s.myASN} no-prepend replace-as`);
  if (s.peerPort !== 179) out.push(` neighbor ${a} port ${s.peerPort}`);
  out.push(` neighbor ${a} timers ${s.keepaliveTimeSeconds} ${s.holdTimeSeconds}`);
  // FRR retries a failed connection every 120 s by default: a repaired peer would wait that long.
  out.push(` neighbor ${a} timers connect ${s.connectTimeSeconds ?? DEFAULT_CONNECT_RETRY_S}`);
  if (s.password !== undefined) out.push(` neighbor ${a} password ${s.password}`);
  if (s.ebgpMultiHop) out.push(` neighbor ${a} ebgp-multihop`);
  if (s.sourceAddress) out.push(` neighbor ${a} update-source ${s.sourceAddress}`);
  // As FRR shows it: `bfd` turns BFD on, `bfd profile` picks the timers; without the first line frr-reload.py
  // would remove BFD from the neighbour and add it back, resetting the session.
  if (p.bfd) out.push(` neighbor ${a} bfd`, ` neighbor ${a} bfd profile ${p.bfd.name}`);
  return out;
}

function addressFamily(plan: BgpPlan, groups: readonly PrefixGroup[], family: 4 | 6): string[] {
  const peers = plan.peers.filter((p) => p.family === family);
  if (peers.length === 0) return [];
  const networks = groups
    .filter((g) => g.family === family)
    .flatMap((g) => g.prefixes.map((x) => `  network ${x} route-map ${originMap(g.id)}`))
    .sort();
  const out = [` address-family ${family === 4 ? 'ipv4' : 'ipv6'} unicast`, ...networks];
  for (const p of peers) {
    out.push(
      `  neighbor ${p.address} activate`,
      `  neighbor ${p.address} route-map ${IN_MAP} in`,
      `  neighbor ${p.address} route-map ${outMap(p.name)} out`,
    );
  }
  out.push(' exit-address-family');
  return out;
}

/**
 * Prefixes grouped by what every peer gets with them: the same group, the same `network … route-map` (which tags
 * the route) and the same outbound entries. A group is named by a hash of that, so adding or removing a VIP of an
 * existing group changes exactly one `network` line (the speaker then applies it without frr-reload.py).
 */
interface PrefixGroup {
  readonly id: string;
  readonly tag: number;
  readonly family: 4 | 6;
  readonly prefixes: string[];
  /** Peer name → what the peer gets (peers not listed do not get the group). */
  readonly perPeer: Map<string, PlannedPrefix>;
}

/** FNV-1a over the text, as 32 bits (never 0: tag 0 means "no tag" in FRR). */
function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0 || 1;
}

const attributes = (x: PlannedPrefix): string =>
  `${x.communities.join(' ')}|${x.largeCommunities.join(' ')}|${x.localPref ?? ''}`;

export function prefixGroups(plan: BgpPlan): PrefixGroup[] {
  const byPrefix = new Map<string, { family: 4 | 6; perPeer: Map<string, PlannedPrefix> }>();
  for (const p of plan.peers) {
    for (const x of p.prefixes) {
      const e = byPrefix.get(x.prefix) ?? { family: x.family, perPeer: new Map<string, PlannedPrefix>() };
      e.perPeer.set(p.name, x);
      byPrefix.set(x.prefix, e);
    }
  }
  const groups = new Map<string, PrefixGroup>();
  for (const [prefix, e] of [...byPrefix].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const key = [...e.perPeer].map(([peer, x]) => `${peer}=${attributes(x)}`).join(';');
    let g = groups.get(key);
    if (!g) {
      let tag = hash32(key);
      // Two groups with one hash: the later one (in key order, so deterministically) takes the next free tag.
      while ([...groups.values()].some((o) => o.tag === tag)) tag = (tag % 0xffffffff) + 1;
      g = { id: tag.toString(16).padStart(8, '0'), tag, family: e.family, prefixes: [], perPeer: e.perPeer };
      groups.set(key, g);
    }
    g.prefixes.push(prefix);
  }
  return [...groups.values()].sort((a, b) => a.tag - b.tag);
}

/** The route-map a group's `network` statements use: it tags the route so that outbound maps can match it. */
export const originMap = (groupId: string): string => `kube-lb-net-${groupId}`;

function originMaps(groups: readonly PrefixGroup[]): string[] {
  return groups.flatMap((g) => [`route-map ${originMap(g.id)} permit 10`, ` set tag ${g.tag}`, 'exit', '!']);
}

/** The outbound route-map of one peer: one permit entry per group it gets, then a deny. */
function peerPolicy(p: PlannedPeer, groups: readonly PrefixGroup[]): string[] {
  const out: string[] = [];
  // Each group's entry has a sequence number of its own (from its tag), so adding or removing a group adds or
  // removes one entry and never renumbers the others (a renumbered entry would match the wrong routes mid-change).
  const used = new Set<number>();
  for (const g of groups) {
    const x = g.perPeer.get(p.name);
    if (!x) continue;
    let seq = 1 + (g.tag % 64_000);
    while (used.has(seq)) seq = (seq % 64_000) + 1;
    used.add(seq);
    out.push(`route-map ${outMap(p.name)} permit ${seq}`, ` match tag ${g.tag}`);
    if (x.communities.length > 0) out.push(` set community ${x.communities.join(' ')}`);
    if (x.largeCommunities.length > 0) out.push(` set large-community ${x.largeCommunities.join(' ')}`);
    if (x.localPref !== undefined) out.push(` set local-preference ${x.localPref}`);
    out.push('exit', '!');
  }
  // The last entry denies what no entry above permits (explicit, so an empty map is still defined).
  out.push(`route-map ${outMap(p.name)} deny 65000`, 'exit', '!');
  return out;
}

/** The whole frr.conf for `plan`; without peers, a configuration with no BGP instance at all. */
export function renderFrrConfig(plan: BgpPlan): string {
  const lines = ['frr defaults traditional', '!'];
  // Route-map and prefix-list changes take effect at once, not after FRR's default 5 s batching delay.
  lines.push('bgp route-map delay-timer 0', '!');
  if (plan.asn === undefined || plan.peers.length === 0) return `${lines.join('\n')}\n`;
  const profiles = [...new Map(plan.peers.flatMap((p) => (p.bfd ? [[p.bfd.name, p.bfd] as const] : []))).values()];
  lines.push(...bfdBlock(profiles.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))));
  lines.push(`router bgp ${plan.asn}`);
  if (plan.routerId) lines.push(` bgp router-id ${plan.routerId}`);
  // No graceful-restart capability: a router that helps a restarting peer keeps a lost node's routes as stale for
  // the restart time (120 s), and a speaker never restarts with its forwarding state kept anyway.
  lines.push(` ${GRACEFUL_RESTART_OFF}`);
  lines.push(' no bgp ebgp-requires-policy', ' no bgp default ipv4-unicast', ' no bgp network import-check');
  for (const p of plan.peers) lines.push(...neighborLines(plan.asn, p));
  const groups = prefixGroups(plan);
  lines.push(...addressFamily(plan, groups, 4), ...addressFamily(plan, groups, 6), 'exit', '!');
  lines.push(`route-map ${IN_MAP} deny 10`, 'exit', '!', ...originMaps(groups));
  for (const p of plan.peers) lines.push(...peerPolicy(p, groups));
  return `${lines.join('\n')}\n`;
}
