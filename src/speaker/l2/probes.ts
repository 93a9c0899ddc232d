// Heartbeats between speakers over UDP: fast evidence that a peer died (a few hundred milliseconds instead of
// a Lease duration), and the handshake of a graceful handover. The Lease stays the ground truth: heartbeats
// can only make a peer look dead sooner, and a Lease renewed after the heartbeats stopped overrules them
// (src/core/l2/liveness.ts).
//
//   hb   every interval to every peer
//   bye  "I am leaving; take over my VIPs" (graceful stop), repeated until acknowledged or timed out
//   ack  "I have applied a view without you" — sent by each peer after the reconcile that follows a bye
// A datagram counts only when it comes from the address the sender advertises in its Lease, so a stray host on
// the segment cannot speak for a node (this is not authentication against a determined attacker on the segment).
//
// The socket lives on a worker thread (probe-worker.ts): heartbeats are sent and stamped on arrival there, so a
// busy main thread neither silences this node nor ages what it heard. This class is the main thread's half:
// peers, byes and acks, and what was heard, read from memory the worker writes.
import { Worker } from 'node:worker_threads';
import type { Logger } from '../../shared/logger.ts';
import type { FromWorker, ProbeWorkerData, ToWorker } from './probe-worker.ts';
import { GapRing, SHARED_SLOTS, type PeerAddress, type ProbeMessage } from './probe-wire.ts';
import { assertNever, KubeLbError } from '../../shared/errors.ts';

/** Heartbeat slots: one per peer name for the life of the process (a handful of LB nodes in practice). */
const MAX_PEER_SLOTS = 4096;
const WORKER_URL = new URL(
  import.meta.url.endsWith('.ts') ? './probe-worker.ts' : './probe-worker.js',
  import.meta.url,
);

export interface ProbeOptions {
  readonly nodeName: string;
  readonly bindAddress: string;
  readonly port: number;
  /** Heartbeat period; 0: no heartbeats (bye/ack still work). */
  readonly intervalMs: number;
  /** Heartbeat silence after which a peer counts as dead (the speaker's --probe-timeout). */
  readonly timeoutMs: number;
  /** The peers' shared key (--peer-key-file): datagrams are signed, and unsigned or replayed ones ignored. */
  readonly key?: Uint8Array | undefined;
  readonly logger: Logger;
}

export interface HeardFrom {
  readonly lastHeardAt?: number | undefined;
  readonly byeAt?: number | undefined;
  readonly byeSeq?: number | undefined;
}

/** Times are on this thread's performance.now() clock (the speaker's `now`). */
export class ProbeChannel {
  readonly #opts: ProbeOptions;
  #worker: Worker | undefined;
  #exited: Promise<number> | undefined;
  readonly #heardAt = new Float64Array(new SharedArrayBuffer((SHARED_SLOTS.firstPeer + MAX_PEER_SLOTS) * 8));
  readonly #gaps = new GapRing();
  readonly #slots = new Map<string, number>();
  #peers: readonly PeerAddress[] = [];
  readonly #byes = new Map<string, { byeAt: number; byeSeq: number }>();
  readonly #pendingAcks = new Map<string, number>();
  readonly #acked = new Map<number, Set<string>>();
  /** Random start, so a restarted speaker's byes never repeat the sequence numbers of its previous life. */
  #seq = Math.floor(Math.random() * 2 ** 30);
  readonly #listeners: ((m: ProbeMessage) => void)[] = [];

  constructor(opts: ProbeOptions) {
    this.#opts = opts;
  }

  /** Called with every accepted bye and ack (heartbeats only update the record). */
  onMessage(fn: (m: ProbeMessage) => void): void {
    this.#listeners.push(fn);
  }

  /** Binds the socket on its thread and starts heartbeats; rejects when the address cannot be bound. */
  async start(): Promise<void> {
    const data: ProbeWorkerData = {
      nodeName: this.#opts.nodeName,
      bindAddress: this.#opts.bindAddress,
      port: this.#opts.port,
      intervalMs: this.#opts.intervalMs,
      timeoutMs: this.#opts.timeoutMs,
      heard: this.#heardAt.buffer as SharedArrayBuffer,
      gaps: this.#gaps.buffer,
      debug: this.#opts.logger.isLevelEnabled('debug'),
      key: this.#opts.key,
    };
    const worker = new Worker(WORKER_URL, { workerData: data, name: 'kube-lb-probes' });
    const exited = new Promise<number>((r) => worker.once('exit', r));
    try {
      await new Promise<void>((resolve, reject) => {
        worker.on('message', (m: FromWorker) => {
          if (m.t === 'bound') resolve();
          else if (m.t === 'bind-error')
            reject(
              new KubeLbError(
                'L2_HEARTBEAT_SOCKET',
                `heartbeat socket ${this.#opts.bindAddress}:${this.#opts.port}: ${m.message}`,
              ),
            );
          else this.#fromWorker(m);
        });
        worker.once('error', reject);
        void exited.then((code) =>
          reject(new KubeLbError('L2_HEARTBEAT_SOCKET', `heartbeat thread exited (${code}) before binding`)),
        );
      });
    } catch (err) {
      await Promise.race([exited, worker.terminate()]);
      throw err;
    }
    this.#worker = worker;
    this.#exited = exited;
    worker.on('error', (err) =>
      this.#opts.logger.error({ err }, 'heartbeat thread failed; peers will see this node only through its Lease'),
    );
    this.#sendPeers();
  }

  /** The peers to heartbeat, from their Leases. */
  setPeers(peers: readonly PeerAddress[]): void {
    this.#peers = peers.filter((p) => p.name !== this.#opts.nodeName);
    this.#sendPeers();
  }

  /**
   * Whether silence is evidence now: false while the heartbeat thread's own timer runs late, and for a timeout
   * after it did (it may have missed arrivals). A busy main thread does not matter: arrivals are stamped there.
   */
  judgeable(): boolean {
    if (this.#opts.intervalMs <= 0) return true;
    const now = performance.timeOrigin + performance.now();
    if (now < this.#heardAt[SHARED_SLOTS.stalledUntil]!) return false;
    const ran = this.#heardAt[SHARED_SLOTS.timerRanAt]!;
    return !(ran > 0 && now - ran > this.#opts.intervalMs + this.#opts.timeoutMs / 2);
  }

  /** Milliseconds between consecutive heartbeats heard from a peer, since the last call (the jitter metric). */
  heartbeatGaps(): number[] {
    return this.#gaps.drain();
  }

  heardFrom(name: string): HeardFrom {
    const slot = this.#slots.get(name);
    const at = slot === undefined ? 0 : this.#heardAt[slot]!;
    const bye = this.#byes.get(name);
    return {
      ...(at > 0 ? { lastHeardAt: at - performance.timeOrigin } : {}),
      ...(bye ? { byeAt: bye.byeAt, byeSeq: bye.byeSeq } : {}),
    };
  }

  /** Sends a bye to every peer; returns its sequence number for waitForAcks. */
  sendBye(): number {
    const seq = ++this.#seq;
    this.#acked.set(seq, new Set());
    this.#send('bye', seq);
    return seq;
  }

  /**
   * Resolves when every peer in `from` acknowledged bye `seq`, re-sending the bye every `resendMs`, or after
   * `timeoutMs`. Returns the peers that did not answer.
   */
  async waitForAcks(seq: number, from: readonly string[], timeoutMs: number, resendMs = 100): Promise<string[]> {
    const deadline = performance.now() + timeoutMs;
    const missing = (): string[] => from.filter((n) => !this.#acked.get(seq)?.has(n));
    while (missing().length > 0 && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, Math.min(resendMs, Math.max(1, deadline - performance.now()))));
      if (missing().length > 0) this.#send('bye', seq, missing());
    }
    return missing();
  }

  /** Byes received and not yet acknowledged (node → sequence); the caller acks them once it applied a view without them. */
  pendingByes(): ReadonlyMap<string, number> {
    return new Map(this.#pendingAcks);
  }

  /** Acknowledges the given byes. */
  sendAcks(byes: ReadonlyMap<string, number>): void {
    for (const [name, seq] of byes) {
      this.#post({ t: 'send', m: { v: 1, t: 'ack', n: this.#opts.nodeName, s: seq }, to: [name] });
      if (this.#pendingAcks.get(name) === seq) this.#pendingAcks.delete(name);
    }
  }

  async stop(): Promise<void> {
    const worker = this.#worker;
    const exited = this.#exited;
    this.#worker = undefined;
    this.#exited = undefined;
    if (!worker || !exited) return;
    worker.postMessage({ t: 'stop' } satisfies ToWorker);
    // The worker closes its socket and its port, and exits; a stuck one is terminated.
    const timer = setTimeout(() => void worker.terminate(), 2000);
    await exited;
    clearTimeout(timer);
  }

  #post(m: ToWorker): void {
    this.#worker?.postMessage(m);
  }

  #send(t: 'bye', seq: number, only?: readonly string[]): void {
    this.#post({ t: 'send', m: { v: 1, t, n: this.#opts.nodeName, s: seq }, to: only });
  }

  /** The peer list with each name's slot; a name keeps its slot for the life of the process. */
  #sendPeers(): void {
    const peers: (PeerAddress & { slot: number })[] = [];
    for (const p of this.#peers) {
      let slot = this.#slots.get(p.name);
      if (slot === undefined && this.#slots.size < MAX_PEER_SLOTS) {
        slot = SHARED_SLOTS.firstPeer + this.#slots.size;
        this.#slots.set(p.name, slot);
      }
      if (slot === undefined) {
        this.#opts.logger.warn(
          { peer: p.name },
          'no heartbeat slot left for this peer; its Lease alone decides its liveness',
        );
        continue;
      }
      peers.push({ ...p, slot });
    }
    this.#post({ t: 'peers', peers });
  }

  #fromWorker(msg: FromWorker): void {
    switch (msg.t) {
      case 'message': {
        const { m } = msg;
        const at = msg.at - performance.timeOrigin;
        if (m.t === 'bye') {
          // Re-sent byes keep the time of the first; a bye of a later stop (after a restart) starts a new one.
          if (this.#byes.get(m.n)?.byeSeq !== m.s) this.#byes.set(m.n, { byeAt: at, byeSeq: m.s });
          this.#pendingAcks.set(m.n, m.s);
        } else if (m.t === 'ack') {
          this.#acked.get(m.s)?.add(m.n);
        }
        for (const fn of this.#listeners) fn(m);
        return;
      }
      case 'send-error':
        // Unreachable peers are the normal case for a dead node; the Lease decides.
        this.#opts.logger.debug({ peer: msg.peer, err: msg.message }, 'heartbeat send failed');
        return;
      case 'socket-error':
        this.#opts.logger.warn({ err: msg.message }, 'heartbeat socket error');
        return;
      case 'bound':
      case 'bind-error':
        return;
      default:
        assertNever(msg, 'message type');
    }
  }
}
