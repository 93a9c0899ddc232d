// Heartbeats between speakers over UDP: fast evidence that a peer died (a few hundred milliseconds instead of
// a Lease duration), and the handshake of a graceful handover. The Lease stays the ground truth: heartbeats
// can only make a peer look dead sooner, and a Lease renewed after the heartbeats stopped overrules them
// (src/core/l2/liveness.ts).
//
// Datagram: JSON {"v":1,"t":"hb"|"bye"|"ack","n":"<sender node>","s":<seq>}, well under 100 bytes.
//   hb   every interval to every peer
//   bye  "I am leaving; take over my VIPs" (graceful stop), repeated until acknowledged or timed out
//   ack  "I have applied a view without you" — sent by each peer after the reconcile that follows a bye
// A datagram counts only when it comes from the address the sender advertises in its Lease, so a stray host on
// the segment cannot speak for a node (this is not authentication against a determined attacker on the segment).
import { createSocket, type Socket } from 'node:dgram';
import type { Logger } from '../../shared/logger.ts';

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

export interface ProbeOptions {
  readonly nodeName: string;
  readonly bindAddress: string;
  readonly port: number;
  /** Heartbeat period; 0: no heartbeats (bye/ack still work). */
  readonly intervalMs: number;
  readonly logger: Logger;
  readonly now: () => number;
}

export interface HeardFrom {
  readonly lastHeardAt?: number | undefined;
  readonly byeAt?: number | undefined;
  readonly byeSeq?: number | undefined;
}

export class ProbeChannel {
  private readonly opts: ProbeOptions;
  private socket: Socket | undefined;
  private timer: NodeJS.Timeout | undefined;
  private peers: readonly PeerAddress[] = [];
  private readonly heard = new Map<string, HeardFrom>();
  private readonly pendingAcks = new Map<string, number>();
  private readonly acked = new Map<number, Set<string>>();
  /** Random start, so a restarted speaker's byes never repeat the sequence numbers of its previous life. */
  private seq = Math.floor(Math.random() * 2 ** 30);
  private readonly listeners: ((m: ProbeMessage) => void)[] = [];

  constructor(opts: ProbeOptions) {
    this.opts = opts;
  }

  /** Called with every accepted bye and ack (heartbeats only update the record). */
  onMessage(fn: (m: ProbeMessage) => void): void {
    this.listeners.push(fn);
  }

  async start(): Promise<void> {
    const sock = createSocket({ type: 'udp4', reuseAddr: false });
    sock.on('message', (buf, rinfo) => this.receive(buf, rinfo.address));
    sock.on('error', (err) => this.opts.logger.warn({ err }, 'heartbeat socket error'));
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(this.opts.port, this.opts.bindAddress, () => {
        sock.off('error', reject);
        resolve();
      });
    });
    this.socket = sock;
    if (this.opts.intervalMs > 0) {
      this.timer = setInterval(() => this.broadcast('hb'), this.opts.intervalMs);
    }
  }

  /** The peers to heartbeat, from their Leases. */
  setPeers(peers: readonly PeerAddress[]): void {
    this.peers = peers.filter((p) => p.name !== this.opts.nodeName);
  }

  heardFrom(name: string): HeardFrom {
    return this.heard.get(name) ?? {};
  }

  /** Sends a bye to every peer; returns its sequence number for waitForAcks. */
  sendBye(): number {
    const seq = ++this.seq;
    this.acked.set(seq, new Set());
    this.broadcast('bye', seq);
    return seq;
  }

  /**
   * Resolves when every peer in `from` acknowledged bye `seq`, re-sending the bye every `resendMs`, or after
   * `timeoutMs`. Returns the peers that did not answer.
   */
  async waitForAcks(seq: number, from: readonly string[], timeoutMs: number, resendMs = 100): Promise<string[]> {
    const deadline = this.opts.now() + timeoutMs;
    const missing = (): string[] => from.filter((n) => !this.acked.get(seq)?.has(n));
    while (missing().length > 0 && this.opts.now() < deadline) {
      await new Promise((r) => setTimeout(r, Math.min(resendMs, Math.max(1, deadline - this.opts.now()))));
      if (missing().length > 0) this.broadcast('bye', seq, missing());
    }
    return missing();
  }

  /** Byes received and not yet acknowledged (node → sequence); the caller acks them once it applied a view without them. */
  pendingByes(): ReadonlyMap<string, number> {
    return new Map(this.pendingAcks);
  }

  /** Acknowledges the given byes. */
  sendAcks(byes: ReadonlyMap<string, number>): void {
    for (const [name, seq] of byes) {
      const peer = this.peers.find((p) => p.name === name);
      if (peer) this.sendTo(peer, { v: 1, t: 'ack', n: this.opts.nodeName, s: seq });
      if (this.pendingAcks.get(name) === seq) this.pendingAcks.delete(name);
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    const sock = this.socket;
    this.socket = undefined;
    if (sock) await new Promise<void>((r) => sock.close(() => r()));
  }

  private broadcast(t: ProbeMessage['t'], seq = ++this.seq, only?: readonly string[]): void {
    for (const p of this.peers) {
      if (!only || only.includes(p.name)) this.sendTo(p, { v: 1, t, n: this.opts.nodeName, s: seq });
    }
  }

  private sendTo(peer: PeerAddress, m: ProbeMessage): void {
    this.socket?.send(encodeProbe(m), peer.port, peer.host, (err) => {
      // Unreachable peers are the normal case for a dead node; the Lease decides.
      if (err) this.opts.logger.debug({ err, peer: peer.name }, 'heartbeat send failed');
    });
  }

  private receive(buf: Buffer, from: string): void {
    const m = decodeProbe(buf);
    if (!m) return;
    const peer = this.peers.find((p) => p.name === m.n);
    if (!peer || peer.host !== from) return;
    const now = this.opts.now();
    const prev = this.heard.get(m.n) ?? {};
    switch (m.t) {
      case 'hb':
        this.heard.set(m.n, { ...prev, lastHeardAt: now });
        return;
      case 'bye':
        // Re-sent byes keep the time of the first; a bye of a later stop (after a restart) starts a new one.
        if (prev.byeSeq !== m.s) this.heard.set(m.n, { ...prev, byeAt: now, byeSeq: m.s });
        this.pendingAcks.set(m.n, m.s);
        break;
      case 'ack':
        this.acked.get(m.s)?.add(m.n);
        break;
    }
    for (const fn of this.listeners) fn(m);
  }
}
