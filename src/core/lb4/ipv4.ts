// IPv4 addresses as host-order numbers (10.0.0.1 = 0x0a000001) and L4 protocol numbers. Codecs decide the
// byte order on the wire; everything above them uses these host-order values.
import { Lb4CodecError } from './errors.ts';

/** Dotted quad to number; one pass over the characters (hundreds of thousands of backends per plan). */
export function parseIPv4(text: string): number {
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 46; // a final '.' closes the last part
    if (c >= 48 && c <= 57 && digits < 3) {
      part = part * 10 + (c - 48);
      digits++;
    } else if (c === 46 && digits > 0 && part <= 255) {
      value = value * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else {
      dots = -1;
      break;
    }
  }
  if (dots !== 4) throw new Lb4CodecError('ipv4', 'address', `not an IPv4 address: ${JSON.stringify(text)}`);
  return value;
}

export function formatIPv4(value: number): string {
  return `${(value >>> 24) & 255}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}

export interface Cidr4 {
  /** Network address, host order, host bits cleared. */
  readonly address: number;
  readonly bits: number;
}

export function parseCidr4(text: string): Cidr4 {
  const [ip, len, extra] = text.split('/');
  const bits = len === undefined ? 32 : Number(len);
  if (extra !== undefined || ip === undefined || !/^\d{1,2}$/.test(len ?? '32') || bits > 32) {
    throw new Lb4CodecError('ipv4', 'cidr', `not an IPv4 CIDR: ${JSON.stringify(text)}`);
  }
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return { address: (parseIPv4(ip) & mask) >>> 0, bits };
}

export function formatCidr4(cidr: Cidr4): string {
  return `${formatIPv4(cidr.address)}/${cidr.bits}`;
}

/** IP protocol numbers of the L4 protocols a Service can use. */
export const L4_PROTOCOLS = { TCP: 6, UDP: 17, SCTP: 132 } as const;
export type L4Protocol = keyof typeof L4_PROTOCOLS;

/** "TCP" for 6; "ANY" for 0 (the proto-less key of Cilium <= 1.16); the number otherwise. */
export function protocolName(proto: number): string {
  if (proto === 0) return 'ANY';
  for (const [name, num] of Object.entries(L4_PROTOCOLS)) if (num === proto) return name;
  return String(proto);
}
