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
