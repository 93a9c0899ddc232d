// Heartbeats live on a thread of their own (issue 11, item 6; issue 13): while the speaker's main thread is busy
// (a dataplane pass, here a 1.5 s busy loop), every channel keeps sending on time, and what it heard is stamped
// on arrival, so right after the stall a peer does not look silent, and silence can be judged at once (a dead
// peer is not noticed later because this node was programming). Loopback only.
import t from 'tap';
import { createSocket } from 'node:dgram';
import { createLogger } from '../../../src/shared/logger.ts';
import { createRegistry } from '../../../src/shared/metrics.ts';
import { createL2Observer } from '../../../src/speaker/l2/metrics.ts';
import { encodeProbe } from '../../../src/speaker/l2/probe-wire.ts';
import { ProbeChannel } from '../../../src/speaker/l2/probes.ts';

const logger = createLogger({ program: 'test', level: 'silent' });
const INTERVAL_MS = 50;
const STALL_MS = 1500;

function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // The main thread does nothing else: as a 220k-entry pass would.
  }
}

t.test('a stalled main thread neither silences its heartbeats nor ages what it heard', async (t) => {
  const port = 40000 + (process.pid % 10000);
  const a = new ProbeChannel({
    nodeName: 'a',
    bindAddress: '127.0.0.1',
    port,
    intervalMs: INTERVAL_MS,
    timeoutMs: 500,
    logger,
  });
  const b = new ProbeChannel({
    nodeName: 'b',
    bindAddress: '127.0.0.1',
    port: port + 1,
    intervalMs: INTERVAL_MS,
    timeoutMs: 500,
    logger,
  });
  await a.start();
  await b.start();
  t.teardown(async () => {
    await a.stop();
    await b.stop();
  });
  a.setPeers([{ name: 'b', host: '127.0.0.1', port: port + 1 }]);
  b.setPeers([{ name: 'a', host: '127.0.0.1', port }]);
  await new Promise((r) => setTimeout(r, 300));
  t.ok(
    a.heardFrom('b').lastHeardAt !== undefined && b.heardFrom('a').lastHeardAt !== undefined,
    'both hear each other',
  );

  busy(STALL_MS);
  const now = performance.now();
  const ageA = now - a.heardFrom('b').lastHeardAt!;
  const ageB = now - b.heardFrom('a').lastHeardAt!;
  t.ok(
    ageA < 5 * INTERVAL_MS,
    `right after a ${STALL_MS} ms stall, a's last heartbeat from b is ${ageA.toFixed(0)} ms old`,
  );
  t.ok(ageB < 5 * INTERVAL_MS, `and b's from a ${ageB.toFixed(0)} ms old (a's heartbeats kept going out)`);
  t.ok(a.judgeable() && b.judgeable(), "silence is judged right away: the stall was not the heartbeat thread's");

  // The jitter metric: gaps between b's heartbeats as a heard them; the main thread's stall made none of them long
  // (10 intervals: a generous bound for a loaded CI machine).
  const registry = createRegistry('test');
  createL2Observer({ garp: { sent: 0 }, probes: a, registry });
  const text = await registry.metrics();
  const count = Number(/^kube_lb_l2_heartbeat_gap_seconds_count\{[^}]*\} (\d+)$/m.exec(text)?.[1]);
  const within = Number(/^kube_lb_l2_heartbeat_gap_seconds_bucket\{le="0\.5"[^}]*\} (\d+)$/m.exec(text)?.[1]);
  t.ok(count >= (300 + STALL_MS) / INTERVAL_MS / 2, `a heard ${count} gaps over the ${300 + STALL_MS} ms`);
  t.equal(within, count, "every gap under 0.5 s, across the main thread's stall");
  // Heartbeats keep arriving: a second drain holds only the few heard since, never the ones counted again.
  const again = a.heartbeatGaps().length;
  t.ok(again <= 3, `each gap is counted once: ${again} new since the scrape, not ${count} again`);

  // Byes and acks still reach the main thread, in order.
  const got: string[] = [];
  b.onMessage((m) => got.push(`${m.t}:${m.n}`));
  const seq = a.sendBye();
  await new Promise((r) => setTimeout(r, 100));
  t.same(got, ['bye:a']);
  t.equal(b.pendingByes().get('a'), seq);
  b.sendAcks(b.pendingByes());
  t.same(await a.waitForAcks(seq, ['b'], 1000), [], 'the bye was acknowledged');
  t.ok(b.heardFrom('a').byeAt !== undefined);
});

t.test('a port that cannot be bound is refused at start, naming the address', async (t) => {
  const port = 40000 + (process.pid % 10000) + 2;
  const a = new ProbeChannel({ nodeName: 'a', bindAddress: '127.0.0.1', port, intervalMs: 0, timeoutMs: 500, logger });
  await a.start();
  t.teardown(() => a.stop());
  const b = new ProbeChannel({ nodeName: 'b', bindAddress: '127.0.0.1', port, intervalMs: 0, timeoutMs: 500, logger });
  await t.rejects(b.start(), new RegExp(`heartbeat socket 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`));
  await b.stop();
});

t.test(
  'with a shared key: peers with it are heard; another key, an unsigned datagram or a forged bye are not',
  async (t) => {
    const port = 40000 + (process.pid % 10000) + 4;
    const key = Buffer.from('0123456789abcdef0123456789abcdef');
    const a = new ProbeChannel({
      nodeName: 'a',
      bindAddress: '127.0.0.1',
      port,
      intervalMs: INTERVAL_MS,
      timeoutMs: 500,
      key,
      logger,
    });
    const b = new ProbeChannel({
      nodeName: 'b',
      bindAddress: '127.0.0.1',
      port: port + 1,
      intervalMs: INTERVAL_MS,
      timeoutMs: 500,
      key,
      logger,
    });
    const c = new ProbeChannel({
      nodeName: 'c',
      bindAddress: '127.0.0.2',
      port: port + 2,
      intervalMs: INTERVAL_MS,
      timeoutMs: 500,
      key: Buffer.from('another key, another cluster!!!!'),
      logger,
    });
    for (const ch of [a, b, c]) await ch.start();
    t.teardown(async () => {
      for (const ch of [a, b, c]) await ch.stop();
    });
    a.setPeers([
      { name: 'b', host: '127.0.0.1', port: port + 1 },
      { name: 'c', host: '127.0.0.2', port: port + 2 },
    ]);
    b.setPeers([{ name: 'a', host: '127.0.0.1', port }]);
    c.setPeers([{ name: 'a', host: '127.0.0.1', port }]);
    const got: string[] = [];
    a.onMessage((m) => got.push(`${m.t}:${m.n}`));
    // What a host on the segment could send as c: an unsigned bye, and one signed under a guessed key.
    const sock = createSocket('udp4');
    t.teardown(() => sock.close());
    await new Promise<void>((r) => sock.bind(0, '127.0.0.2', () => r()));
    const send = (buf: Buffer) => new Promise<void>((r) => sock.send(buf, port, '127.0.0.1', () => r()));
    await send(encodeProbe({ v: 1, t: 'bye', n: 'c', s: 1 }));
    await send(
      encodeProbe({ v: 1, t: 'bye', n: 'c', s: 2, at: Date.now() }, Buffer.from('a guess at the key, 32 bytes....')),
    );
    await new Promise((r) => setTimeout(r, 400));
    t.ok(a.heardFrom('b').lastHeardAt !== undefined, 'a hears b (same key)');
    t.ok(b.heardFrom('a').lastHeardAt !== undefined, 'b hears a');
    t.equal(a.heardFrom('c').lastHeardAt, undefined, 'a does not hear c (another key)');
    t.same(got, [], 'no forged bye reached a');
    const seq = b.sendBye();
    await new Promise((r) => setTimeout(r, 150));
    t.same(got, ['bye:b'], 'a signed bye does');
    t.equal(a.pendingByes().get('b'), seq);
  },
);
