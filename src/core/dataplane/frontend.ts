// What the speaker wants in the maps, in domain terms (strings, host order), and its one validation step into
// the numeric form the planner works with. The speaker wiring turns VIPClaims into DesiredFrontends.
import { BACKEND_STATES, backendStateCode, type BackendState } from '../lb4/flags.ts';
import { L4_PROTOCOLS, parseCidr4, parseIPv4, type Cidr4, type L4Protocol } from '../lb4/ipv4.ts';
import { keyProtoFor, type Lb4Profile } from '../lb4/profile.ts';
import { maglevHashString } from '../maglev/table.ts';
import { hashedBackendId } from './ids.ts';

export interface DesiredBackend {
  /** Consumer node IPv4. */
  readonly address: string;
  /** The Service's NodePort on that node. */
  readonly port: number;
  /** Default 'active'. Non-active backends keep their slot (after `count`) so existing flows can drain. */
  readonly state?: BackendState;
  /** Maglev weight, default 1. */
  readonly weight?: number;
}

export interface DesiredFrontend {
  readonly vip: string;
  readonly port: number;
  readonly protocol: L4Protocol;
  readonly backends: readonly DesiredBackend[];
  readonly sessionAffinity?: { readonly timeoutSeconds: number };
  /** loadBalancerSourceRanges: only clients inside these CIDRs reach the VIP. */
  readonly sourceRanges?: readonly string[];
  readonly externalTrafficPolicy?: 'Cluster' | 'Local';
  /** Where this frontend comes from (e.g. "tenant-a/web"), for logs and status only. */
  readonly origin?: string;
}

export interface Backend {
  /** Cilium's maglev hash string, the same on every node: "[10.1.0.5:30080/TCP,State:active]". */
  readonly name: string;
  /** Identity of the lb4_backend entry in this profile (backendEntryKey; proto 0 where the profile writes 0). */
  readonly entryKey: number;
  /** The backend ID it takes unless another entry holds it (ids.ts). */
  readonly hashedId: number;
  readonly address: number;
  readonly port: number;
  readonly proto: number;
  readonly state: number;
  readonly weight: number;
}

export interface Frontend {
  /** "10.0.0.1:80/TCP". */
  readonly name: string;
  readonly address: number;
  readonly port: number;
  /** L4 protocol number. */
  readonly proto: number;
  /** lb4_key.proto in this profile. */
  readonly keyProto: number;
  /** Active backends first, then non-active, each group ordered by address and port. */
  readonly backends: readonly Backend[];
  readonly activeCount: number;
  readonly affinityTimeout: number | undefined;
  readonly sourceRanges: readonly Cidr4[];
  readonly localScope: boolean;
  readonly origin: string | undefined;
}

export interface RejectedFrontend {
  readonly frontend: DesiredFrontend;
  readonly reason: string;
}

export interface NormalizeResult {
  readonly frontends: Frontend[];
  readonly rejected: RejectedFrontend[];
}

const PROTO_SLOT: Readonly<Record<number, number>> = { 0: 0, 6: 1, 17: 2, 132: 3 };

/**
 * The identity of an lb4_backend entry (address, port, proto) as one exact number (50 bits), so hundreds of
 * thousands of backends are matched without building strings.
 */
export function backendEntryKey(address: number, port: number, proto: number): number {
  return (address * 65536 + port) * 4 + (PROTO_SLOT[proto] ?? 0);
}

/** A frontend's identity as a string, for logs and for sorting: "10.0.0.1:80/TCP". */
export function frontendName(address: string, port: number, protocol: string): string {
  return `${address}:${port}/${protocol}`;
}

function isPort(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= 65535;
}

function normalizeOne(d: DesiredFrontend, profile: Lb4Profile): Frontend | string {
  const proto = L4_PROTOCOLS[d.protocol];
  if (proto === undefined) return `unknown protocol ${String(d.protocol)}`;
  if (!isPort(d.port)) return `port ${d.port} is not 1..65535`;
  let address: number;
  let sourceRanges: Cidr4[];
  try {
    address = parseIPv4(d.vip);
    const unique = new Map((d.sourceRanges ?? []).map(parseCidr4).map((c) => [`${c.address}/${c.bits}`, c] as const));
    sourceRanges = [...unique.values()];
  } catch (err) {
    return (err as Error).message;
  }
  const timeout = d.sessionAffinity?.timeoutSeconds;
  if (timeout !== undefined && !(Number.isInteger(timeout) && timeout >= 1 && timeout <= 0xffffff)) {
    return `session affinity timeout ${timeout} is not 1..16777215 seconds`;
  }
  const listed: Backend[] = [];
  for (const b of d.backends) {
    if (!isPort(b.port)) return `backend ${b.address}:${b.port}: port is not 1..65535`;
    const state = b.state ?? 'active';
    if (!BACKEND_STATES.includes(state)) return `backend ${b.address}: unknown state ${String(state)}`;
    const weight = b.weight ?? 1;
    if (!(Number.isInteger(weight) && weight >= 1 && weight <= 65535)) {
      return `backend ${b.address}: weight ${weight} is not 1..65535`;
    }
    let baddr: number;
    try {
      baddr = parseIPv4(b.address);
    } catch (err) {
      return (err as Error).message;
    }
    const name = maglevHashString(b.address, b.port, profile.maglevHashProto === 'l4' ? d.protocol : 'ANY');
    const entryProto = profile.backendProto === 'l4' ? proto : 0;
    const backend: Backend = {
      name,
      entryKey: backendEntryKey(baddr, b.port, entryProto),
      hashedId: hashedBackendId(baddr, b.port, entryProto),
      address: baddr,
      port: b.port,
      proto,
      state: backendStateCode(state),
      weight,
    };
    listed.push(backend);
  }
  // One entry per backend identity: if a backend is listed twice, the most available state wins.
  listed.sort((a, b) => a.address - b.address || a.port - b.port || a.state - b.state);
  const backends = listed.filter((b, i) => i === 0 || b.address !== listed[i - 1]!.address || b.port !== listed[i - 1]!.port);
  // Active first (slots 1..count), each group by address and port.
  backends.sort((a, b) => Number(a.state !== 0) - Number(b.state !== 0) || a.address - b.address || a.port - b.port);
  return {
    name: frontendName(d.vip, d.port, d.protocol),
    address,
    port: d.port,
    proto,
    keyProto: keyProtoFor(profile, proto),
    backends,
    activeCount: backends.reduce((n, b) => (b.state === 0 ? n + 1 : n), 0),
    affinityTimeout: timeout,
    sourceRanges,
    localScope: d.externalTrafficPolicy === 'Local',
    origin: d.origin,
  };
}

/** Validates and orders desired frontends; invalid ones are returned with the reason, never half-used. */
export function normalizeFrontends(desired: readonly DesiredFrontend[], profile: Lb4Profile): NormalizeResult {
  const frontends: Frontend[] = [];
  const rejected: RejectedFrontend[] = [];
  for (const d of desired) {
    const r = normalizeOne(d, profile);
    if (typeof r === 'string') rejected.push({ frontend: d, reason: r });
    else frontends.push(r);
  }
  frontends.sort((a, b) => a.address - b.address || a.port - b.port || a.proto - b.proto);
  return { frontends, rejected };
}
