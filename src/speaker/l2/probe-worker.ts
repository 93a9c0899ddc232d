// The socket half of the heartbeat channel (probes.ts), on a thread of its own (this module runs only there;
// the main thread imports its types alone): heartbeats go out on time and
// arrivals are stamped when they arrive, however long the speaker's main thread is busy (a dataplane pass over
// 220k entries, a GC pause). Without it a node programming its maps stopped sending, and its peers declared it
// dead and took its VIPs over.
//
// Arrival times of heartbeats are written into shared memory (one float64 per peer slot, epoch milliseconds),
// which the main thread reads when it judges liveness; byes and acks, which start work, are posted to it. The
// thread also says there when its own timer ran late: then it may have missed arrivals too (a machine loaded
// enough to starve this thread), and silence is not judged for a moment.
import { createSocket, type Socket } from 'node:dgram';
import { parentPort, workerData } from 'node:worker_threads';
import {
  decodeProbe,
  encodeProbe,
  GapRing,
  ProbeClock,
  ProbeReplayGuard,
  SHARED_SLOTS,
  type PeerAddress,
  type ProbeMessage,
} from './probe-wire.ts';
import { assertNever } from '../../shared/errors.ts';

/** What the main thread starts the worker with. */
export interface ProbeWorkerData {
  readonly nodeName: string;
  readonly bindAddress: string;
  readonly port: number;
  readonly intervalMs: number;
  /** Heartbeat silence after which a peer counts as dead: a timer late by half of it is a stall of this thread. */
  readonly timeoutMs: number;
  /** Float64Array over it (SHARED_SLOTS): this thread's health, then per peer slot its last heartbeat (epoch ms; 0: never). */
  readonly heard: SharedArrayBuffer;
  /** GapRing's memory: the time between consecutive heartbeats of each peer, for the jitter metric. */
  readonly gaps: SharedArrayBuffer;
  /** Report failed sends (a dead peer makes one every interval). */
  readonly debug: boolean;
  /** The peers' shared key: datagrams are signed and only signed ones are heard. Unset: unauthenticated. */
  readonly key?: Uint8Array | undefined;
}

export type ToWorker =
  | { readonly t: 'peers'; readonly peers: readonly (PeerAddress & { readonly slot: number })[] }
  | { readonly t: 'send'; readonly m: ProbeMessage; readonly to?: readonly string[] | undefined }
  | { readonly t: 'stop' };

export type FromWorker =
  | { readonly t: 'bound' }
  | { readonly t: 'bind-error'; readonly message: string }
  | { readonly t: 'message'; readonly m: ProbeMessage; readonly at: number }
  | { readonly t: 'send-error'; readonly peer: string; readonly message: string }
  | { readonly t: 'socket-error'; readonly message: string };

const data = workerData as ProbeWorkerData;
const port = parentPort!;
const heard = new Float64Array(data.heard);
const gaps = new GapRing(data.gaps);
const clock = new ProbeClock();
const replays = new ProbeReplayGuard();
const epochNow = (): number => performance.timeOrigin + performance.now();
const post = (m: FromWorker): void => port.postMessage(m);
let peers: readonly (PeerAddress & { readonly slot: number })[] = [];
let seq = 0;
let timer: NodeJS.Timeout | undefined;

function sendTo(socket: Socket, peer: PeerAddress, m: ProbeMessage): void {
  const signed = data.key ? { ...m, at: clock.next(epochNow()) } : m;
  socket.send(encodeProbe(signed, data.key), peer.port, peer.host, (err) => {
    if (err && data.debug) post({ t: 'send-error', peer: peer.name, message: err.message });
  });
}

function receive(buf: Buffer, from: string): void {
  const at = epochNow();
  const m = decodeProbe(buf, data.key);
  if (!m) return; // malformed, or not signed under our key
  if (data.key && !replays.accept(m, at)) return;
  // A datagram counts only from the address its sender advertises in its Lease.
  const peer = peers.find((p) => p.name === m.n);
  if (!peer || peer.host !== from) return;
  if (m.t === 'hb') {
    const last = heard[peer.slot]!;
    if (last > 0) gaps.push(at - last);
    heard[peer.slot] = at;
  } else post({ t: 'message', m, at });
}

const socket = createSocket({ type: 'udp4', reuseAddr: false });
socket.on('message', (buf, rinfo) => receive(buf, rinfo.address));
socket.once('error', (err) => {
  post({ t: 'bind-error', message: err.message });
  port.close();
});
socket.bind(data.port, data.bindAddress, () => {
  socket.removeAllListeners('error');
  socket.on('error', (err) => post({ t: 'socket-error', message: err.message }));
  if (data.intervalMs > 0) {
    timer = setInterval(() => {
      const now = epochNow();
      const last = heard[SHARED_SLOTS.timerRanAt]!;
      if (last > 0 && now - last > data.intervalMs + data.timeoutMs / 2)
        heard[SHARED_SLOTS.stalledUntil] = now + data.timeoutMs;
      heard[SHARED_SLOTS.timerRanAt] = now;
      seq++;
      for (const p of peers) sendTo(socket, p, { v: 1, t: 'hb', n: data.nodeName, s: seq });
    }, data.intervalMs);
  }
  post({ t: 'bound' });
});

port.on('message', (msg: ToWorker) => {
  switch (msg.t) {
    case 'peers':
      peers = msg.peers;
      return;
    case 'send':
      for (const p of peers) if (!msg.to || msg.to.includes(p.name)) sendTo(socket, p, msg.m);
      return;
    case 'stop':
      if (timer) clearInterval(timer);
      try {
        socket.close(() => port.close());
      } catch {
        port.close(); // never bound
      }
      return;
    default:
      return assertNever(msg, 'message type');
  }
});
