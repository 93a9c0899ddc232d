// What the speaker wants in the maps, in domain terms (strings, host order), and its one validation step into
// the numeric form the planner works with. The speaker wiring turns VIPClaims into DesiredFrontends.
import { BACKEND_STATES, type BackendState } from '../lb4/flags.ts';
import {
  formatIPv4,
  L4_PROTOCOLS,
  parseCidr4,
  parseIPv4,
  protocolName,
  type Cidr4,
  type L4Protocol,
} from '../lb4/ipv4.ts';
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

/** Numbers only: a plan holds a hundred thousand of these, and each string or boxed number is garbage to collect. */
export interface Backend {
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
  /** backends.length, known without making the backends (see ValidFrontend). */
  readonly backendCount: number;
  readonly activeCount: number;
  readonly affinityTimeout: number | undefined;
  readonly sourceRanges: readonly Cidr4[];
  readonly localScope: boolean;
  readonly origin: string | undefined;
  /** Its place in the desired list: when not all fit in kube-lb's share of the maps, the first places are served. */
  readonly priority: number;
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

/** The lb4_backend entry's proto in this profile: 0 where the line's backends carry none. */
export function backendEntryProto(b: Backend, profile: Lb4Profile): number {
  return profile.backendProto === 'l4' ? b.proto : 0;
}

/** The backend ID a backend takes unless another entry holds it (ids.ts). */
export function backendHashedId(b: Backend, profile: Lb4Profile): number {
  return hashedBackendId(b.address, b.port, backendEntryProto(b, profile));
}

/** Cilium's maglev hash string, the same on every node: "[10.1.0.5:30080/TCP,State:active]". */
export function backendMaglevName(b: Backend, profile: Lb4Profile): string {
  const protocol = profile.maglevHashProto === 'l4' ? protocolName(b.proto) : 'ANY';
  return maglevHashString(formatIPv4(b.address), b.port, protocol);
}

/** A frontend's identity as a string, for logs and for sorting: "10.0.0.1:80/TCP". */
export function frontendName(address: string, port: number, protocol: string): string {
  return `${address}:${port}/${protocol}`;
}

function isPort(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= 65535;
}

/**
 * Every backend of a desired list as checked: address, port, state and weight, in the order given (one allocation
 * per list). Backends are made from here, never from the caller's objects.
 */
interface CheckedBackends {
  readonly addresses: Float64Array;
  readonly ports: Uint16Array;
  readonly states: Uint8Array;
  readonly weights: Uint16Array;
}

/** The Backend objects of `count` checked backends from `at` on, in the order given. */
function makeBackends(checked: CheckedBackends, at: number, count: number, proto: number): Backend[] {
  const { addresses, ports, states, weights } = checked;
  const backends: Backend[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const j = at + i;
    backends[i] = { address: addresses[j]!, port: ports[j]!, proto, state: states[j]!, weight: weights[j]! };
  }
  return backends;
}

function normalizeOne(
  d: DesiredFrontend,
  profile: Lb4Profile,
  priority: number,
  checked: CheckedBackends,
  at: number,
): Frontend | string {
  const proto = L4_PROTOCOLS[d.protocol];
  if (proto === undefined) return `unknown protocol ${String(d.protocol)}`;
  if (!isPort(d.port)) return `port ${d.port} is not 1..65535`;
  let address: number;
  let sourceRanges: readonly Cidr4[] = NO_RANGES;
  try {
    address = parseIPv4(d.vip);
    if (d.sourceRanges?.length) {
      const unique = new Map(d.sourceRanges.map(parseCidr4).map((c) => [`${c.address}/${c.bits}`, c] as const));
      sourceRanges = [...unique.values()];
    }
  } catch (err) {
    return (err as Error).message;
  }
  const timeout = d.sessionAffinity?.timeoutSeconds;
  if (timeout !== undefined && !(Number.isInteger(timeout) && timeout >= 1 && timeout <= 0xffffff)) {
    return `session affinity timeout ${timeout} is not 1..16777215 seconds`;
  }
  // Every backend is checked here, into `checked` from `at` on.
  // Whether the list is already in slot order (active, ascending, no duplicates): the common case, no sorting.
  const { addresses, ports, states, weights } = checked;
  let inOrder = true;
  for (let i = 0; i < d.backends.length; i++) {
    const b = d.backends[i]!;
    if (!isPort(b.port)) return `backend ${b.address}:${b.port}: port is not 1..65535`;
    const state = b.state === undefined ? 0 : BACKEND_STATES.indexOf(b.state);
    if (state < 0) return `backend ${b.address}: unknown state ${String(b.state)}`;
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
    addresses[at + i] = baddr;
    ports[at + i] = b.port;
    states[at + i] = state;
    weights[at + i] = weight;
    if (state !== 0) inOrder = false;
    else if (i > 0) {
      const prev = addresses[at + i - 1]!;
      if (prev > baddr || (prev === baddr && ports[at + i - 1]! >= b.port)) inOrder = false;
    }
  }
  const frontend = {
    name: frontendName(d.vip, d.port, d.protocol),
    address,
    port: d.port,
    proto,
    keyProto: keyProtoFor(profile, proto),
    affinityTimeout: timeout,
    sourceRanges,
    localScope: d.externalTrafficPolicy === 'Local',
    origin: d.origin,
    priority,
  };
  if (inOrder) return new ValidFrontend(frontend, checked, at, d.backends.length);
  const backends = slotOrder(makeBackends(checked, at, d.backends.length, proto));
  return {
    ...frontend,
    backends,
    backendCount: backends.length,
    activeCount: backends.reduce((n, b) => (b.state === 0 ? n + 1 : n), 0),
  };
}

/**
 * A valid frontend whose backends are all active and already in slot order (the common case), each checked
 * already: its Backend objects are made on first use. A plan uses them chunk by chunk, so the map writer starts
 * on the first chunk while the later ones are still as the speaker gave them; made all at once, they kept it
 * waiting ~20 ms at 10k services × 10 backends (a tenth of a first programming on two cores).
 */
class ValidFrontend implements Frontend {
  readonly name: string;
  readonly address: number;
  readonly port: number;
  readonly proto: number;
  readonly keyProto: number;
  readonly affinityTimeout: number | undefined;
  readonly sourceRanges: readonly Cidr4[];
  readonly localScope: boolean;
  readonly origin: string | undefined;
  readonly priority: number;
  readonly backendCount: number;
  readonly activeCount: number;
  #backends: readonly Backend[] | undefined;
  /** Until the backends are made: where they are, as checked. */
  #checked: CheckedBackends | undefined;
  readonly #at: number;

  constructor(
    f: Omit<Frontend, 'backends' | 'backendCount' | 'activeCount'>,
    checked: CheckedBackends,
    at: number,
    count: number,
  ) {
    this.name = f.name;
    this.address = f.address;
    this.port = f.port;
    this.proto = f.proto;
    this.keyProto = f.keyProto;
    this.affinityTimeout = f.affinityTimeout;
    this.sourceRanges = f.sourceRanges;
    this.localScope = f.localScope;
    this.origin = f.origin;
    this.priority = f.priority;
    this.backendCount = count;
    this.activeCount = count;
    this.#checked = checked;
    this.#at = at;
  }

  get backends(): readonly Backend[] {
    if (this.#backends === undefined) {
      this.#backends = makeBackends(this.#checked!, this.#at, this.backendCount, this.proto);
      this.#checked = undefined; // the list's arrays go once every frontend has made its backends
    }
    return this.#backends;
  }
}

const NO_RANGES: readonly Cidr4[] = [];

/**
 * One entry per backend identity (listed twice, the most available state wins); active first (slots 1..count),
 * each group by address and port.
 */
function slotOrder(listed: Backend[]): Backend[] {
  listed.sort((a, b) => a.address - b.address || a.port - b.port || a.state - b.state);
  const backends = listed.filter(
    (b, i) => i === 0 || b.address !== listed[i - 1]!.address || b.port !== listed[i - 1]!.port,
  );
  return backends.sort(
    (a, b) => Number(a.state !== 0) - Number(b.state !== 0) || a.address - b.address || a.port - b.port,
  );
}

/** Validates and orders desired frontends; invalid ones are returned with the reason, never half-used. */
export function normalizeFrontends(desired: readonly DesiredFrontend[], profile: Lb4Profile): NormalizeResult {
  const frontends: Frontend[] = [];
  const rejected: RejectedFrontend[] = [];
  let total = 0;
  for (let i = 0; i < desired.length; i++) total += desired[i]!.backends.length;
  const checked: CheckedBackends = {
    addresses: new Float64Array(total),
    ports: new Uint16Array(total),
    states: new Uint8Array(total),
    weights: new Uint16Array(total),
  };
  for (let i = 0, at = 0; i < desired.length; i++) {
    const d = desired[i]!;
    const r = normalizeOne(d, profile, i, checked, at);
    at += d.backends.length;
    if (typeof r === 'string') rejected.push({ frontend: d, reason: r });
    else frontends.push(r);
  }
  frontends.sort((a, b) => a.address - b.address || a.port - b.port || a.proto - b.proto);
  return { frontends, rejected };
}
