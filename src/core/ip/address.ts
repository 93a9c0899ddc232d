// IP addresses as numbers: IPv4 and IPv6 parsed strictly (as Go's netip does: no leading zeros in IPv4, no
// zones), held as a family and a bigint, and printed canonically (RFC 5952 for IPv6), so that the same address
// always has the same text wherever it is used as a key.

export type Family = 4 | 6;

export interface IPAddr {
  readonly family: Family;
  /** The address as an unsigned integer of 32 (IPv4) or 128 (IPv6) bits. */
  readonly value: bigint;
}

export const BITS: Readonly<Record<Family, number>> = { 4: 32, 6: 128 };
export const MAX_VALUE: Readonly<Record<Family, bigint>> = { 4: (1n << 32n) - 1n, 6: (1n << 128n) - 1n };

const V4_PART = /^(0|[1-9][0-9]{0,2})$/;
const V6_GROUP = /^[0-9a-fA-F]{1,4}$/;

function parseIPv4(text: string): bigint | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0n;
  for (const part of parts) {
    if (!V4_PART.test(part)) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    value = (value << 8n) | BigInt(n);
  }
  return value;
}

function parseGroups(text: string): number[] | undefined {
  if (text === '') return [];
  const groups: number[] = [];
  const parts = text.split(':');
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (i === parts.length - 1 && part.includes('.')) {
      const v4 = parseIPv4(part);
      if (v4 === undefined) return undefined;
      groups.push(Number(v4 >> 16n), Number(v4 & 0xffffn));
    } else if (V6_GROUP.test(part)) groups.push(parseInt(part, 16));
    else return undefined;
  }
  return groups;
}

function parseIPv6(text: string): bigint | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = parseGroups(halves[0]!);
  const tail = halves.length === 2 ? parseGroups(halves[1]!) : [];
  if (!head || !tail) return undefined;
  // An embedded IPv4 address may only end the address.
  if (halves.length === 2 && halves[0]!.includes('.')) return undefined;
  const total = head.length + tail.length;
  if (halves.length === 1 ? total !== 8 : total > 7) return undefined;
  const groups = [...head, ...new Array<number>(8 - total).fill(0), ...tail];
  let value = 0n;
  for (const g of groups) value = (value << 16n) | BigInt(g);
  return value;
}

/** Parses an IPv4 or IPv6 address; undefined when `text` is not exactly one address. */
export function parseIP(text: string): IPAddr | undefined {
  if (text.includes(':')) {
    const value = parseIPv6(text);
    return value === undefined ? undefined : { family: 6, value };
  }
  const value = parseIPv4(text);
  return value === undefined ? undefined : { family: 4, value };
}

function formatIPv6(value: bigint): string {
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((value >> BigInt(i * 16)) & 0xffffn));
  // RFC 5952: compress the longest run of two or more zero groups, the first one on a tie.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]): string => gs.map((g) => g.toString(16)).join(':');
  if (bestStart === -1) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

/** Canonical text: dotted quad, or RFC 5952 IPv6. */
export function formatIP(ip: IPAddr): string {
  if (ip.family === 6) return formatIPv6(ip.value);
  const v = Number(ip.value);
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** The canonical text of an address, or undefined when it does not parse. */
export function canonicalIP(text: string): string | undefined {
  const ip = parseIP(text);
  return ip && formatIP(ip);
}

export function compareIP(a: IPAddr, b: IPAddr): number {
  if (a.family !== b.family) return a.family - b.family;
  return a.value < b.value ? -1 : a.value > b.value ? 1 : 0;
}

export function ipEquals(a: IPAddr, b: IPAddr): boolean {
  return a.family === b.family && a.value === b.value;
}

/** `ip` + `n`; undefined when that leaves the family's address space. */
export function ipAdd(ip: IPAddr, n: bigint): IPAddr | undefined {
  const value = ip.value + n;
  return value < 0n || value > MAX_VALUE[ip.family] ? undefined : { family: ip.family, value };
}

/** IPv4 as the unsigned 32-bit number the kernel's maps use in host order (the codecs decide byte order). */
export function ipv4ToUint32(ip: IPAddr): number {
  if (ip.family !== 4) throw new RangeError(`not an IPv4 address: ${formatIP(ip)}`);
  return Number(ip.value);
}

export function uint32ToIPv4(n: number): IPAddr {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`not a 32-bit unsigned number: ${n}`);
  return { family: 4, value: BigInt(n) };
}

/**
 * Addresses ending in .0 or .255 (in any /24), which some old client stacks and middleboxes treat as network
 * or broadcast addresses and drop. Pools with `avoidBuggyIPs` never hand them out. IPv6 has none.
 */
export function isBuggyIP(ip: IPAddr): boolean {
  if (ip.family !== 4) return false;
  const last = ip.value & 255n;
  return last === 0n || last === 255n;
}
