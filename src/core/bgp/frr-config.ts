// The FRR configuration (frr.conf text) of one LB node's BGP plan. The speaker hands the whole text to
// frr-reload.py, which applies only what changed, so the text must be a pure function of the plan: the same plan
// gives byte-identical text, and a change to one peer touches only that peer's lines (sessions whose lines did
// not change are never reset). Every prefix is a `network` statement (import-check off: the VIP is not in the
// node's RIB); each peer gets what is planned for it through its own outbound route-map, one entry per set of
// attributes, and takes nothing in.
import type { BfdProfileInput, BgpPlan, PlannedPeer, PlannedPrefix } from './plan.ts';

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

function bfdBlock(profiles: readonly BfdProfileInput[]): string[] {
  if (profiles.length === 0) return [];
  const out = ['bfd'];
  for (const p of profiles) {
    out.push(
      ` profile ${p.name}`,
      `  detect-multiplier ${p.detectMultiplier}`,
      `  receive-interval ${p.receiveIntervalMs}`,
      `  transmit-interval ${p.transmitIntervalMs}`,
    );
    if (p.echoMode) {
      out.push(
        '  echo-mode',
        `  echo transmit-interval ${p.echoIntervalMs}`,
        `  echo receive-interval ${p.echoIntervalMs}`,
      );
    }
    if (p.passiveMode) out.push('  passive-mode');
    out.push(`  minimum-ttl ${p.minimumTtl}`, ' exit');
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
  if (p.bfd) out.push(` neighbor ${a} bfd profile ${p.bfd.name}`);
  return out;
}

function addressFamily(plan: BgpPlan, family: 4 | 6): string[] {
  const peers = plan.peers.filter((p) => p.family === family);
  if (peers.length === 0) return [];
  const prefixes = plan.prefixes.filter((x) => x.includes(':') === (family === 6));
  const out = [` address-family ${family === 4 ? 'ipv4' : 'ipv6'} unicast`];
  for (const x of prefixes) out.push(`  network ${x}`);
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

const attributesKey = (x: PlannedPrefix): string =>
  `${x.communities.join(' ')}|${x.largeCommunities.join(' ')}|${x.localPref ?? ''}`;

/** Prefix lists and the outbound route-map of one peer: one permit entry per distinct set of attributes. */
function peerPolicy(p: PlannedPeer): string[] {
  const groups = new Map<string, PlannedPrefix[]>();
  for (const x of p.prefixes) {
    const k = attributesKey(x);
    groups.set(k, [...(groups.get(k) ?? []), x]);
  }
  const keys = [...groups.keys()].sort();
  const out: string[] = [];
  const ipKind = p.family === 4 ? 'ip' : 'ipv6';
  keys.forEach((k, i) => {
    const list = `${outMap(p.name)}-${i + 1}`;
    groups.get(k)!.forEach((x, j) => {
      out.push(`${ipKind} prefix-list ${list} seq ${(j + 1) * 5} permit ${x.prefix}`);
    });
  });
  keys.forEach((k, i) => {
    const first = groups.get(k)![0]!;
    out.push(
      `route-map ${outMap(p.name)} permit ${(i + 1) * 10}`,
      ` match ${ipKind} address prefix-list ${outMap(p.name)}-${i + 1}`,
    );
    if (first.communities.length > 0) out.push(` set community ${first.communities.join(' ')}`);
    if (first.largeCommunities.length > 0) out.push(` set large-community ${first.largeCommunities.join(' ')}`);
    if (first.localPref !== undefined) out.push(` set local-preference ${first.localPref}`);
    out.push('exit', '!');
  });
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
  lines.push(' no bgp ebgp-requires-policy', ' no bgp default ipv4-unicast', ' no bgp network import-check');
  // A node that is gone must not leave stale routes behind at the routers for a restart timer.
  lines.push(' bgp graceful-restart-disable');
  for (const p of plan.peers) lines.push(...neighborLines(plan.asn, p));
  lines.push(...addressFamily(plan, 4), ...addressFamily(plan, 6), 'exit', '!');
  lines.push(`route-map ${IN_MAP} deny 10`, 'exit', '!');
  for (const p of plan.peers) lines.push(...peerPolicy(p));
  return `${lines.join('\n')}\n`;
}
