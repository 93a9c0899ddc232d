// Inclusive address ranges of one family, and the two ways people write them: CIDRs ("192.0.2.0/24") and
// explicit ranges ("192.0.2.10-192.0.2.20"). Parsing returns a reason instead of throwing, so callers can put
// it in a condition or an admission message as it is.
import { BITS, MAX_VALUE, formatIP, isBuggyIP, parseIP, type Family, type IPAddr } from './address.ts';

export interface IPRange {
  readonly family: Family;
  readonly first: bigint;
  readonly last: bigint;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

const fail = (reason: string): { ok: false; reason: string } => ({ ok: false, reason });

export interface CIDR {
  readonly ip: IPAddr;
  readonly prefix: number;
  readonly range: IPRange;
  /** True when `ip` is not the network address (e.g. 192.0.2.5/24). */
  readonly hostBitsSet: boolean;
}

export function parseCIDR(text: string): Parsed<CIDR> {
  const slash = text.indexOf('/');
  if (slash === -1) return fail(`${text} is not a CIDR (expected address/prefix)`);
  const ip = parseIP(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (!ip) return fail(`${text} is not a CIDR: ${text.slice(0, slash)} is not an IP address`);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(prefixText) || Number(prefixText) > BITS[ip.family]) {
    return fail(`${text} is not a CIDR: prefix length must be 0-${BITS[ip.family]}`);
  }
  const prefix = Number(prefixText);
  const hostBits = BigInt(BITS[ip.family] - prefix);
  const mask = (1n << hostBits) - 1n;
  const first = ip.value & ~mask & MAX_VALUE[ip.family];
  return {
    ok: true,
    value: { ip, prefix, range: { family: ip.family, first, last: first | mask }, hostBitsSet: first !== ip.value },
  };
}

/** A CIDR that must be written with its network address. */
export function parseStrictCIDR(text: string): Parsed<IPRange> {
  const c = parseCIDR(text);
  if (!c.ok) return c;
  if (c.value.hostBitsSet) {
    return fail(
      `host bits set in ${text}: write the network address ${formatIP({ family: c.value.ip.family, value: c.value.range.first })}/${c.value.prefix}`,
    );
  }
  return { ok: true, value: c.value.range };
}

/** "first-last", inclusive, one family, first <= last. */
export function parseExplicitRange(text: string): Parsed<IPRange> {
  const parts = text.split('-');
  if (parts.length !== 2) return fail(`${text} is not a range (expected first-last)`);
  const a = parseIP(parts[0]!.trim());
  const b = parseIP(parts[1]!.trim());
  if (!a || !b) return fail(`${text} is not a range: ${!a ? parts[0] : parts[1]} is not an IP address`);
  if (a.family !== b.family) return fail(`range ${text} mixes IPv4 and IPv6`);
  if (a.value > b.value) return fail(`range ${text} is reversed: the first address must not be above the last`);
  return { ok: true, value: { family: a.family, first: a.value, last: b.value } };
}

/** A pool entry: a CIDR (network address required) or an explicit range. */
export function parsePoolEntry(text: string): Parsed<IPRange> {
  return text.includes('-') ? parseExplicitRange(text) : parseStrictCIDR(text);
}

export function rangeSize(r: IPRange): bigint {
  return r.last - r.first + 1n;
}

export function rangeContains(r: IPRange, ip: IPAddr): boolean {
  return r.family === ip.family && ip.value >= r.first && ip.value <= r.last;
}

export function rangesOverlap(a: IPRange, b: IPRange): boolean {
  return a.family === b.family && a.first <= b.last && b.first <= a.last;
}

export function rangeIntersection(a: IPRange, b: IPRange): IPRange | undefined {
  if (!rangesOverlap(a, b)) return undefined;
  // biome-ignore lint/complexity/useMathMinMax: bigint addresses, which Math.min and Math.max do not take
  return { family: a.family, first: a.first > b.first ? a.first : b.first, last: a.last < b.last ? a.last : b.last };
}

/** True when `inner` lies entirely inside one of `outer` (the ranges of `outer` are not merged). */
export function rangeWithinAny(inner: IPRange, outer: readonly IPRange[]): boolean {
  return outer.some((o) => o.family === inner.family && o.first <= inner.first && inner.last <= o.last);
}

export function ipInAny(ip: IPAddr, ranges: readonly IPRange[]): boolean {
  return ranges.some((r) => rangeContains(r, ip));
}

/** "192.0.2.0-192.0.2.255" */
export function formatRange(r: IPRange): string {
  return `${formatIP({ family: r.family, value: r.first })}-${formatIP({ family: r.family, value: r.last })}`;
}

/** How many addresses of `r` end in .0 or .255 (see isBuggyIP). */
export function countBuggy(r: IPRange): bigint {
  if (r.family !== 4) return 0n;
  // Numbers n in [first, last] with n mod 256 == 0, plus those with n mod 256 == 255.
  const countResidue = (res: bigint): bigint => {
    const upTo = (x: bigint): bigint => (x < res ? 0n : (x - res) / 256n + 1n);
    return upTo(r.last) - (r.first === 0n ? 0n : upTo(r.first - 1n));
  };
  return countResidue(0n) + countResidue(255n);
}

/** Usable addresses of a range: all of them, or without the buggy ones. */
export function usableCount(r: IPRange, avoidBuggyIPs: boolean): bigint {
  return rangeSize(r) - (avoidBuggyIPs ? countBuggy(r) : 0n);
}

/**
 * The first address of `r` at or after `from` that `accept` takes (skipping buggy ones when asked); undefined
 * when there is none. Linear: callers keep a cursor so repeated searches do not rescan taken addresses.
 */
export function firstAcceptable(
  r: IPRange,
  from: bigint,
  accept: (ip: IPAddr) => boolean,
  avoidBuggyIPs: boolean,
): IPAddr | undefined {
  for (let v = from < r.first ? r.first : from; v <= r.last; v++) {
    const ip: IPAddr = { family: r.family, value: v };
    if (avoidBuggyIPs && isBuggyIP(ip)) continue;
    if (accept(ip)) return ip;
  }
  return undefined;
}

/**
 * A special-purpose block, parsed once: every claim's backends are checked against these, and parsing them on
 * each check was a few percent of the allocator's CPU in a burst of claims.
 */
function reservedBlock(cidr: string, name: string): { range: IPRange; name: string } {
  const c = parseCIDR(cidr);
  if (!c.ok) throw new Error(`range.ts: reserved block ${cidr}: ${c.reason}`);
  return { range: c.value.range, name };
}

/** Special-purpose blocks no VIP pool may touch, with the name an error message uses. */
const RESERVED = [
  reservedBlock('0.0.0.0/8', '"this network" 0.0.0.0/8'),
  reservedBlock('127.0.0.0/8', 'loopback 127.0.0.0/8'),
  reservedBlock('169.254.0.0/16', 'link-local 169.254.0.0/16'),
  reservedBlock('224.0.0.0/4', 'multicast 224.0.0.0/4'),
  reservedBlock('255.255.255.255/32', 'broadcast 255.255.255.255'),
  reservedBlock('::/128', 'unspecified ::'),
  reservedBlock('::1/128', 'loopback ::1'),
  reservedBlock('fe80::/10', 'link-local fe80::/10'),
  reservedBlock('ff00::/8', 'multicast ff00::/8'),
];

/** The name of the special-purpose block `ip` is in ("loopback 127.0.0.0/8"), or undefined. */
export function reservedBlockOf(ip: IPAddr): string | undefined {
  return reservedOverlap({ family: ip.family, first: ip.value, last: ip.value });
}

/** The name of the first special-purpose block `r` touches, or undefined. */
export function reservedOverlap(r: IPRange): string | undefined {
  for (const block of RESERVED) if (rangesOverlap(r, block.range)) return block.name;
  return undefined;
}
