// ARP over Ethernet (RFC 826), encoded and decoded byte by byte. The speaker sends gratuitous ARP in both forms
// because devices differ in which one they learn from (RFC 5227 section 3 recommends requests; many switches and
// some hosts only act on replies):
//
//   Ethernet header (14 bytes)
//     0  dst MAC      6  ff:ff:ff:ff:ff:ff (broadcast: every host and switch on the segment must see it)
//     6  src MAC      6  the announcing interface's MAC (this is what switches learn into their FDB)
//    12  EtherType    2  0x0806 ARP
//   ARP payload (28 bytes)
//    14  HTYPE        2  1 (Ethernet)
//    16  PTYPE        2  0x0800 (IPv4)
//    18  HLEN         1  6
//    19  PLEN         1  4
//    20  OPER         2  1 request / 2 reply
//    22  SHA          6  announcing MAC (what hosts put in their ARP cache for SPA)
//    28  SPA          4  the VIP
//    32  THA          6  request: 00:00:00:00:00:00 (unknown, RFC 5227);
//                        reply: the announcing MAC again — Linux only treats a reply as gratuitous when THA = SHA
//                        (arp_is_garp in net/ipv4/arp.c), and only then overrides a fresh cache entry at once
//    38  TPA          4  the VIP again (SPA = TPA is what makes it gratuitous)
//    42  padding     18  zeros up to the 60-byte Ethernet minimum (without FCS)
import { KubeLbError } from '../../shared/errors.ts';

export const ETH_P_ARP = 0x0806;
export const ETH_P_IP = 0x0800;
export const ARP_REQUEST = 1;
export const ARP_REPLY = 2;
export const ETH_HEADER_LEN = 14;
export const ARP_PAYLOAD_LEN = 28;
/** Minimum Ethernet frame without FCS; shorter frames are padded with zeros. */
export const ETH_MIN_FRAME = 60;
export const BROADCAST_MAC = 'ff:ff:ff:ff:ff:ff';
export const ZERO_MAC = '00:00:00:00:00:00';

export class AddressFormatError extends KubeLbError {
  constructor(kind: 'MAC' | 'IPv4', text: string) {
    super('L2_ADDRESS_FORMAT', `not a valid ${kind} address: ${JSON.stringify(text)}`);
  }
}

export function macToBytes(mac: string): Uint8Array {
  const parts = mac.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) throw new AddressFormatError('MAC', mac);
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

export function macFromBytes(bytes: Uint8Array): string {
  return [...bytes.subarray(0, 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

export function ipv4ToBytes(ip: string): Uint8Array {
  const parts = ip.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^(0|[1-9]\d{0,2})$/.test(p) || Number(p) > 255)) {
    throw new AddressFormatError('IPv4', ip);
  }
  return Uint8Array.from(parts.map(Number));
}

export function ipv4FromBytes(bytes: Uint8Array): string {
  return [...bytes.subarray(0, 4)].join('.');
}

export interface ArpPacket {
  ethDst: string;
  ethSrc: string;
  op: number;
  senderMac: string;
  senderIp: string;
  targetMac: string;
  targetIp: string;
}

/** Encodes an Ethernet frame carrying one ARP packet, padded to 60 bytes. */
export function encodeArp(p: ArpPacket): Uint8Array {
  const frame = new Uint8Array(ETH_MIN_FRAME);
  const view = new DataView(frame.buffer);
  frame.set(macToBytes(p.ethDst), 0);
  frame.set(macToBytes(p.ethSrc), 6);
  view.setUint16(12, ETH_P_ARP);
  view.setUint16(14, 1);
  view.setUint16(16, ETH_P_IP);
  frame[18] = 6;
  frame[19] = 4;
  view.setUint16(20, p.op);
  frame.set(macToBytes(p.senderMac), 22);
  frame.set(ipv4ToBytes(p.senderIp), 28);
  frame.set(macToBytes(p.targetMac), 32);
  frame.set(ipv4ToBytes(p.targetIp), 38);
  return frame;
}

/** Decodes an Ethernet/IPv4 ARP frame; undefined for anything else (other EtherTypes, other ARP hardware). */
export function decodeArp(frame: Uint8Array): ArpPacket | undefined {
  if (frame.length < ETH_HEADER_LEN + ARP_PAYLOAD_LEN) return undefined;
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  if (view.getUint16(12) !== ETH_P_ARP) return undefined;
  if (view.getUint16(14) !== 1 || view.getUint16(16) !== ETH_P_IP || frame[18] !== 6 || frame[19] !== 4)
    return undefined;
  return {
    ethDst: macFromBytes(frame.subarray(0, 6)),
    ethSrc: macFromBytes(frame.subarray(6, 12)),
    op: view.getUint16(20),
    senderMac: macFromBytes(frame.subarray(22, 28)),
    senderIp: ipv4FromBytes(frame.subarray(28, 32)),
    targetMac: macFromBytes(frame.subarray(32, 38)),
    targetIp: ipv4FromBytes(frame.subarray(38, 42)),
  };
}

/** Gratuitous ARP request: "who has VIP? tell VIP (at MAC)". */
export function garpRequest(mac: string, vip: string): Uint8Array {
  return encodeArp({
    ethDst: BROADCAST_MAC,
    ethSrc: mac,
    op: ARP_REQUEST,
    senderMac: mac,
    senderIp: vip,
    targetMac: ZERO_MAC,
    targetIp: vip,
  });
}

/** Gratuitous ARP reply: "VIP is at MAC", broadcast, with THA = SHA as Linux requires. */
export function garpReply(mac: string, vip: string): Uint8Array {
  return encodeArp({
    ethDst: BROADCAST_MAC,
    ethSrc: mac,
    op: ARP_REPLY,
    senderMac: mac,
    senderIp: vip,
    targetMac: mac,
    targetIp: vip,
  });
}

/**
 * Duplicate-address probe (RFC 5227 section 2.1.1): "who has VIP? tell 0.0.0.0 (at MAC)". The sender IP is
 * zero so that no host updates its ARP cache from a probe for an address that may turn out to be someone else's;
 * a host holding the VIP answers it.
 */
export function probeRequest(mac: string, vip: string): Uint8Array {
  return encodeArp({
    ethDst: BROADCAST_MAC,
    ethSrc: mac,
    op: ARP_REQUEST,
    senderMac: mac,
    senderIp: '0.0.0.0',
    targetMac: ZERO_MAC,
    targetIp: vip,
  });
}

/** Both forms, request first. */
export function garpFrames(mac: string, vip: string): Uint8Array[] {
  return [garpRequest(mac, vip), garpReply(mac, vip)];
}

/** True for a gratuitous ARP as Linux understands it: SPA = TPA and, for replies, THA = SHA. */
export function isGratuitous(p: ArpPacket): boolean {
  if (p.senderIp !== p.targetIp) return false;
  return p.op === ARP_REQUEST || (p.op === ARP_REPLY && p.targetMac === p.senderMac);
}
