// Gratuitous ARP pacing (src/speaker/l2/garp.ts) on a hand-driven clock: the rate cap holds over any window,
// a takeover's first announcement goes before every repeat and refresh, and bursts still complete.
import t from 'tap';
import { ARP_REQUEST, decodeArp } from '../../../src/core/l2/arp-frame.ts';
import { createLogger } from '../../../src/shared/logger.ts';
import { GarpSender, type GarpClock, type GarpConfig, type GarpTarget } from '../../../src/speaker/l2/garp.ts';

class HandClock implements GarpClock {
  at = 0;
  #timers: { at: number; fn: () => void; live: boolean }[] = [];
  now = (): number => this.at;
  after = (ms: number, fn: () => void): (() => void) => {
    const timer = { at: this.at + ms, fn, live: true };
    this.#timers.push(timer);
    return () => {
      timer.live = false;
    };
  };
  /** Moves time forward to `to`, running each timer at its time, in time order. */
  advance(to: number): void {
    for (;;) {
      const due = this.#timers.filter((x) => x.live && x.at <= to).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      due.live = false;
      this.at = due.at;
      due.fn();
    }
    this.at = to;
  }
}

/** Each announcement is two frames (request and reply); records the VIP and time of each request. */
function recorder(clock: HandClock): {
  sends: { vip: string; at: number }[];
  send: (i: number, e: number, f: Uint8Array) => void;
} {
  const sends: { vip: string; at: number }[] = [];
  return {
    sends,
    send: (_ifindex, _etherType, frame) => {
      const p = decodeArp(frame);
      if (p?.op === ARP_REQUEST) sends.push({ vip: p.senderIp, at: clock.now() });
    },
  };
}

const logger = createLogger({ program: 'test', level: 'silent' });
const target = (i: number): GarpTarget => ({
  vip: `10.0.${i >> 8}.${i & 255}`,
  ifname: 'eth0',
  ifindex: 2,
  mac: '02:00:5e:10:00:01',
});
const config = (over: Partial<GarpConfig> = {}): GarpConfig => ({
  burstCount: 3,
  burstIntervalMs: 200,
  refreshMs: 0,
  ratePerS: 1000,
  ...over,
});

t.test(
  'a takeover of many VIPs is metered, first announcements before any repeat, and every burst completes',
  async (t) => {
    const clock = new HandClock();
    const rec = recorder(clock);
    const garp = new GarpSender(rec, config(), logger, clock);
    garp.start();
    for (let i = 1; i <= 250; i++) garp.takeover(target(i));
    t.ok(rec.sends.length <= 20, `only the bucket goes out at once (${rec.sends.length})`);
    t.equal(rec.sends[0]?.vip, target(1).vip, 'the first VIP is announced at once');
    clock.advance(5000);
    t.equal(rec.sends.length, 750, 'every VIP got its 3 announcements');
    for (let i = 1; i <= 250; i++)
      t.equal(rec.sends.filter((s) => s.vip === target(i).vip).length, 3, `${target(i).vip}: 3`);
    // The cap: at most rate × window + the bucket, in any window of 100 ms.
    for (let from = 0; from < 1000; from += 10) {
      const n = rec.sends.filter((s) => s.at >= from && s.at < from + 100).length;
      if (n > 100 + 20) t.fail(`${n} announcements in [${from}, ${from + 100}) ms`);
    }
    // Firsts: the 250 first announcements all went before the first repeat.
    const firstOf = new Map<string, number>();
    rec.sends.forEach((s, i) => {
      if (!firstOf.has(s.vip)) firstOf.set(s.vip, i);
    });
    t.equal(Math.max(...firstOf.values()), 249, 'the 250 first announcements are the first 250 sent');
    t.ok(rec.sends[249]!.at < 260, `the last first announcement went at ${rec.sends[249]!.at} ms (250 at 1000/s)`);
    garp.stop();
  },
);

t.test('a takeover during a paced backlog jumps ahead of repeats and refreshes', async (t) => {
  const clock = new HandClock();
  const rec = recorder(clock);
  const garp = new GarpSender(rec, config({ refreshMs: 1000, ratePerS: 100 }), logger, clock);
  garp.start();
  for (let i = 1; i <= 50; i++) garp.takeover(target(i));
  clock.advance(1000); // refreshes of 50 VIPs fall due, with repeats still queued
  t.ok(garp.backlog() > 50, `a backlog is waiting (${garp.backlog()})`);
  const before = rec.sends.length;
  garp.takeover(target(200));
  clock.advance(1030);
  const next = rec.sends.slice(before);
  t.equal(next[0]?.vip, target(200).vip, 'the new VIP is the next announced');
  t.ok(next[0]!.at - 1000 <= 10, `within one token's time (${next[0]!.at - 1000} ms)`);
  garp.stop();
});

t.test('withdrawn VIPs are not announced again; 0 is unpaced', async (t) => {
  const clock = new HandClock();
  const rec = recorder(clock);
  const paced = new GarpSender(rec, config({ ratePerS: 100 }), logger, clock);
  for (let i = 1; i <= 10; i++) paced.takeover(target(i));
  for (let i = 1; i <= 10; i++) paced.withdraw(target(i));
  const sent = rec.sends.length;
  clock.advance(10_000);
  t.equal(rec.sends.length, sent, 'nothing after the withdrawal');
  t.equal(paced.backlog(), 0);
  paced.stop();

  const clock2 = new HandClock();
  const rec2 = recorder(clock2);
  const unpaced = new GarpSender(rec2, config({ ratePerS: 0 }), logger, clock2);
  for (let i = 1; i <= 300; i++) unpaced.takeover(target(i));
  t.equal(rec2.sends.length, 300, 'every first announcement at once');
  clock2.advance(200);
  t.equal(rec2.sends.length, 600, 'every second one an interval later');
  unpaced.stop();
});
