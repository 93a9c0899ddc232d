// Gratuitous ARP: a burst when this node starts answering for a VIP on an interface (clients and switches
// learn the new MAC at once instead of when their caches expire), and an optional periodic refresh so a
// switch whose FDB entry aged out (a known cause of L2 outages) relearns the port. Each announcement sends the
// request and the reply form (see src/core/l2/arp-frame.ts for why both).
//
// Announcements are paced: a node taking over a thousand VIPs at once would otherwise put thousands of broadcast
// frames on the segment in one go, every burst interval, and spend that time on the event loop in one piece.
// A token bucket (announcements per second) meters them, and the first announcement of a takeover always goes
// before any repeat or refresh, so pacing never delays the frame a failover waits for more than it must.
import { ETH_P_ARP, garpFrames } from '../../core/l2/arp-frame.ts';
import type { Logger } from '../../shared/logger.ts';

export interface FrameSender {
  send(ifindex: number, etherType: number, frame: Uint8Array): void;
}

export interface GarpTarget {
  readonly vip: string;
  readonly ifname: string;
  readonly ifindex: number;
  readonly mac: string;
}

export interface GarpConfig {
  /** Announcements per takeover (each is a request and a reply); 0 disables gratuitous ARP. */
  readonly burstCount: number;
  /** Delay between the announcements of a burst. */
  readonly burstIntervalMs: number;
  /** Period of the refresh of every announced VIP; 0 disables it. */
  readonly refreshMs: number;
  /** Announcements per second at most, all VIPs together; 0: unpaced. */
  readonly ratePerS: number;
}

/** The clock and timer the sender runs on (tests drive it by hand). */
export interface GarpClock {
  now(): number;
  /** Calls fn once after ms; returns a cancel function. */
  after(ms: number, fn: () => void): () => void;
}

const REAL_CLOCK: GarpClock = {
  now: () => performance.now(),
  after: (ms, fn) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return () => clearTimeout(t);
  },
};

/** The bucket holds at most this long's worth of announcements, so an idle sender cannot save up a flood. */
const BUCKET_MS = 20;

const key = (t: Pick<GarpTarget, 'vip' | 'ifname'>): string => `${t.vip}@${t.ifname}`;

interface Pending {
  readonly target: GarpTarget;
  /** Announcements of this burst still to send. */
  left: number;
  /** When the next one is due (the clock's time). */
  dueAt: number;
}

export class GarpSender {
  readonly #sender: FrameSender;
  readonly #config: GarpConfig;
  readonly #logger: Logger;
  readonly #clock: GarpClock;
  /** Bursts whose first announcement is still to go, oldest first (a Pending no longer in #bursts is skipped). */
  #fresh: Pending[] = [];
  /** Bursts under way, by target; repeats in the order they fall due (all share one interval). */
  readonly #bursts = new Map<string, Pending>();
  /** Targets whose refresh is due and not yet sent. */
  #refreshDue: GarpTarget[] = [];
  readonly #announced = new Map<string, GarpTarget>();
  #tokens: number;
  #filledAt: number;
  #cancelPump: (() => void) | undefined;
  #cancelRefresh: (() => void) | undefined;
  #started = false;
  /** Frames sent so far (for metrics and tests). */
  sent = 0;

  constructor(sender: FrameSender, config: GarpConfig, logger: Logger, clock: GarpClock = REAL_CLOCK) {
    this.#sender = sender;
    this.#config = config;
    this.#logger = logger;
    this.#clock = clock;
    this.#tokens = this.#capacity();
    this.#filledAt = clock.now();
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#scheduleRefresh();
  }

  /** Starts announcing `target`: its first announcement goes out as soon as the pace allows (now, normally). */
  takeover(target: GarpTarget): void {
    this.#bursts.delete(key(target));
    this.#announced.set(key(target), target);
    if (this.#config.burstCount <= 0) return;
    const p: Pending = { target, left: this.#config.burstCount, dueAt: this.#clock.now() };
    this.#bursts.set(key(target), p);
    this.#fresh.push(p);
    this.#pump();
  }

  /** Stops announcing `target` (its burst, if still running, and its refresh). */
  withdraw(target: Pick<GarpTarget, 'vip' | 'ifname'>): void {
    this.#bursts.delete(key(target));
    this.#announced.delete(key(target));
  }

  stop(): void {
    this.#started = false;
    this.#cancelRefresh?.();
    this.#cancelPump?.();
    this.#cancelRefresh = undefined;
    this.#cancelPump = undefined;
    this.#bursts.clear();
    this.#fresh = [];
    this.#refreshDue = [];
    this.#announced.clear();
  }

  /** Announcements waiting for the pace (bursts under way and refreshes due). */
  backlog(): number {
    let n = this.#refreshDue.length;
    for (const p of this.#bursts.values()) n += p.left;
    return n;
  }

  /** Sends one announcement of a burst; re-queues it at the back, due an interval later, while some are left. */
  #burstOne(k: string, p: Pending, now: number): void {
    this.#announce(p.target);
    this.#bursts.delete(k);
    if (--p.left > 0) {
      p.dueAt = now + this.#config.burstIntervalMs;
      this.#bursts.set(k, p);
    }
  }

  #capacity(): number {
    return this.#config.ratePerS > 0 ? Math.max(1, (this.#config.ratePerS * BUCKET_MS) / 1000) : Infinity;
  }

  #take(): boolean {
    if (this.#config.ratePerS <= 0) return true;
    const now = this.#clock.now();
    this.#tokens = Math.min(this.#capacity(), this.#tokens + ((now - this.#filledAt) * this.#config.ratePerS) / 1000);
    this.#filledAt = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Sends what is due and the pace allows: first announcements, then repeats, then refreshes; re-arms itself. */
  #pump(): void {
    this.#cancelPump?.();
    this.#cancelPump = undefined;
    const now = this.#clock.now();
    let starved = false;
    let nextDue = Infinity;
    // First announcements (what a failover waits for), then repeats as they fall due, then refreshes.
    let sentFresh = 0;
    for (const p of this.#fresh) {
      const k = key(p.target);
      if (this.#bursts.get(k) !== p || p.left < this.#config.burstCount) {
        sentFresh++; // withdrawn or taken over again since, or already sent
        continue;
      }
      if (!this.#take()) {
        starved = true;
        break;
      }
      this.#burstOne(k, p, now);
      sentFresh++;
    }
    this.#fresh = sentFresh === this.#fresh.length ? [] : this.#fresh.slice(sentFresh);
    for (const [k, p] of starved ? [] : this.#bursts) {
      if (p.left === this.#config.burstCount) continue; // its first is in #fresh
      if (p.dueAt > now) {
        nextDue = Math.min(nextDue, p.dueAt);
        break; // the rest fall due later still
      }
      if (!this.#take()) {
        starved = true;
        break;
      }
      this.#burstOne(k, p, now);
      if (this.#bursts.get(k) === p) nextDue = Math.min(nextDue, p.dueAt);
    }
    while (!starved && this.#refreshDue.length > 0) {
      const t = this.#refreshDue[this.#refreshDue.length - 1]!;
      if (!this.#take()) {
        starved = true;
        break;
      }
      this.#refreshDue.pop();
      if (this.#announced.get(key(t)) === t) this.#announce(t);
    }
    const wait = starved
      ? Math.max(1, 1000 / this.#config.ratePerS)
      : nextDue === Infinity
        ? undefined
        : Math.max(0, nextDue - now);
    if (wait !== undefined) this.#cancelPump = this.#clock.after(wait, () => this.#pump());
  }

  #scheduleRefresh(): void {
    if (this.#config.refreshMs <= 0 || !this.#started) return;
    this.#cancelRefresh = this.#clock.after(this.#config.refreshMs, () => {
      // Refreshes wait behind bursts and are sent from the end of the list: any order is fine for them.
      this.#refreshDue = [...this.#announced.values()].reverse();
      this.#pump();
      this.#scheduleRefresh();
    });
  }

  #announce(target: GarpTarget): void {
    try {
      for (const frame of garpFrames(target.mac, target.vip)) {
        this.#sender.send(target.ifindex, ETH_P_ARP, frame);
        this.sent++;
      }
    } catch (err) {
      // A link that just went away fails here; the next reconcile withdraws the target.
      this.#logger.warn({ err, vip: target.vip, interface: target.ifname }, 'gratuitous ARP failed');
    }
  }
}
