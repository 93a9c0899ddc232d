// The heartbeat datagram and peer addresses, shared by the probe channel (probes.ts) and its socket thread
// (probe-worker.ts).
//
// Datagram: JSON {"v":1,"t":"hb"|"bye"|"ack","n":"<sender node>","s":<seq>}, well under 100 bytes. With a shared
// key (--peer-key-file, from a Secret) it also carries "at", the sender's clock in epoch ms, strictly increasing
// per sender, and "h", an HMAC-SHA256 of the rest: a host on the segment can then neither forge a bye (forcing a
// failover) nor heartbeats (hiding a dead node for a probe timeout), and a replayed datagram is refused for its
// "at" (ProbeReplayGuard).
import { createHmac, timingSafeEqual } from 'node:crypto';
import { parseHostPort } from '../../shared/host-port.ts';

export interface ProbeMessage {
  readonly v: 1;
  readonly t: 'hb' | 'bye' | 'ack';
  readonly n: string;
  readonly s: number;
  /** Sender's epoch ms, on authenticated datagrams. */
  readonly at?: number | undefined;
}

/** Bytes of HMAC-SHA256 kept (128 bits). */
const MAC_BYTES = 16;

function mac(key: Uint8Array, body: string): Buffer {
  return createHmac('sha256', key).update(body).digest().subarray(0, MAC_BYTES);
}

/** The datagram of `m`; with `key`, authenticated (m.at must be set). */
export function encodeProbe(m: ProbeMessage, key?: Uint8Array): Buffer {
  const body = JSON.stringify({ v: 1, t: m.t, n: m.n, s: m.s, ...(key ? { at: m.at } : {}) });
  if (!key) return Buffer.from(body);
  return Buffer.from(`${body.slice(0, -1)},"h":"${mac(key, body).toString('hex')}"}`);
}

/**
 * The message in a datagram, or undefined when it is malformed, or (with `key`) unauthenticated or signed under
 * another key.
 */
export function decodeProbe(buf: Buffer, key?: Uint8Array): ProbeMessage | undefined {
  try {
    const m = JSON.parse(buf.toString('utf8')) as Partial<ProbeMessage> & { h?: unknown };
    if (
      m.v !== 1 ||
      (m.t !== 'hb' && m.t !== 'bye' && m.t !== 'ack') ||
      typeof m.n !== 'string' ||
      typeof m.s !== 'number'
    )
      return undefined;
    if (!key) return { v: 1, t: m.t, n: m.n, s: m.s };
    if (typeof m.at !== 'number' || typeof m.h !== 'string' || !/^[0-9a-f]{32}$/.test(m.h)) return undefined;
    const want = mac(key, JSON.stringify({ v: 1, t: m.t, n: m.n, s: m.s, at: m.at }));
    if (!timingSafeEqual(want, Buffer.from(m.h, 'hex'))) return undefined;
    return { v: 1, t: m.t, n: m.n, s: m.s, at: m.at };
  } catch {
    return undefined;
  }
}

/** How far a sender's clock may be from ours: NTP keeps nodes far closer; a replay older than this is refused. */
export const MAX_CLOCK_SKEW_MS = 30_000;

/**
 * Refuses replayed authenticated datagrams: per sender, only a newer "at" than the last accepted one, and only
 * within MAX_CLOCK_SKEW_MS of this node's clock (a restarted sender goes on from its clock, so it is heard again;
 * an old capture is not).
 */
export class ProbeReplayGuard {
  readonly #last = new Map<string, number>();

  accept(m: ProbeMessage, now: number): boolean {
    if (m.at === undefined || Math.abs(now - m.at) > MAX_CLOCK_SKEW_MS) return false;
    const last = this.#last.get(m.n);
    if (last !== undefined && m.at <= last) return false;
    this.#last.set(m.n, m.at);
    return true;
  }
}

/** A sender's "at": its clock, but always after the last one it sent. */
export class ProbeClock {
  #last = 0;

  next(now: number): number {
    this.#last = Math.max(Math.floor(now), this.#last + 1);
    return this.#last;
  }
}

export interface PeerAddress {
  readonly name: string;
  readonly host: string;
  readonly port: number;
}

/** A peer's kube-lb.io/l2-peer annotation: its IPv4 address and a port other than 0 (the socket is IPv4). */
export function parsePeerAddress(name: string, text: string | undefined): PeerAddress | undefined {
  const at = text === undefined ? undefined : parseHostPort(text);
  return at && /^\d{1,3}(?:\.\d{1,3}){3}$/.test(at.host) && at.port > 0 ? { name, ...at } : undefined;
}

/**
 * The memory the heartbeat thread shares with the main thread (float64 slots, epoch ms): until when its own
 * stall voids silence, when its timer last ran, then one slot per peer for its last heartbeat.
 */
export const SHARED_SLOTS = { stalledUntil: 0, timerRanAt: 1, firstPeer: 2 } as const;

/**
 * Gaps between consecutive heartbeats heard from one peer (ms), for the jitter metric: a ring the heartbeat
 * thread fills and the main thread drains at scrape time. The ring's first int32 counts gaps ever written
 * (Atomics, so a gap is in place before it is counted); a reader more than GAP_RING_SIZE behind loses the oldest.
 */
export const GAP_RING_SIZE = 8192;

export class GapRing {
  readonly buffer: SharedArrayBuffer;
  readonly #count: Int32Array;
  readonly #gaps: Float64Array;
  #read = 0;

  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(8 + GAP_RING_SIZE * 8)) {
    this.buffer = buffer;
    this.#count = new Int32Array(buffer, 0, 1);
    this.#gaps = new Float64Array(buffer, 8, GAP_RING_SIZE);
  }

  /** Heartbeat thread: records one gap. */
  push(gapMs: number): void {
    const n = Atomics.load(this.#count, 0);
    this.#gaps[n % GAP_RING_SIZE] = gapMs;
    Atomics.store(this.#count, 0, (n + 1) | 0);
  }

  /** Main thread: the gaps written since the last drain, oldest first (at most the ring's size). */
  drain(): number[] {
    const written = Atomics.load(this.#count, 0);
    let from = this.#read;
    if (written - from > GAP_RING_SIZE) from = written - GAP_RING_SIZE;
    const out: number[] = [];
    for (let i = from; i < written; i++) out.push(this.#gaps[i % GAP_RING_SIZE]!);
    this.#read = written;
    return out;
  }
}
