// The heartbeat datagram and peer addresses, shared by the probe channel (probes.ts) and its socket thread
// (probe-worker.ts).
//
// Datagram: JSON {"v":1,"t":"hb"|"bye"|"ack","n":"<sender node>","s":<seq>}, well under 100 bytes.
export interface ProbeMessage {
  readonly v: 1;
  readonly t: 'hb' | 'bye' | 'ack';
  readonly n: string;
  readonly s: number;
}

export function encodeProbe(m: ProbeMessage): Buffer {
  return Buffer.from(JSON.stringify(m));
}

export function decodeProbe(buf: Buffer): ProbeMessage | undefined {
  try {
    const m = JSON.parse(buf.toString('utf8')) as Partial<ProbeMessage>;
    if (m.v !== 1 || (m.t !== 'hb' && m.t !== 'bye' && m.t !== 'ack') || typeof m.n !== 'string' || typeof m.s !== 'number') return undefined;
    return { v: 1, t: m.t, n: m.n, s: m.s };
  } catch {
    return undefined;
  }
}

export interface PeerAddress {
  readonly name: string;
  readonly host: string;
  readonly port: number;
}

export function parsePeerAddress(name: string, text: string | undefined): PeerAddress | undefined {
  const m = text ? /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(text) : null;
  if (!m) return undefined;
  const port = Number(m[2]);
  return port > 0 && port < 65536 ? { name, host: m[1]!, port } : undefined;
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
