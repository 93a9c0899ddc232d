// Gratuitous ARP: a burst when this node starts answering for a VIP on an interface (clients and switches
// learn the new MAC at once instead of when their caches expire), and an optional periodic refresh so a
// switch whose FDB entry aged out (a known cause of L2 outages) relearns the port. Each announcement sends the
// request and the reply form (see src/core/l2/arp-frame.ts for why both).
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
}

const key = (t: Pick<GarpTarget, 'vip' | 'ifname'>): string => `${t.vip}@${t.ifname}`;

export class GarpSender {
  private readonly sender: FrameSender;
  private readonly config: GarpConfig;
  private readonly logger: Logger;
  private readonly bursts = new Map<string, NodeJS.Timeout>();
  private readonly announced = new Map<string, GarpTarget>();
  private refreshTimer: NodeJS.Timeout | undefined;
  /** Frames sent so far (for metrics and tests). */
  sent = 0;

  constructor(sender: FrameSender, config: GarpConfig, logger: Logger) {
    this.sender = sender;
    this.config = config;
    this.logger = logger;
  }

  start(): void {
    if (this.config.refreshMs > 0 && !this.refreshTimer) {
      this.refreshTimer = setInterval(() => this.refresh(), this.config.refreshMs);
      this.refreshTimer.unref();
    }
  }

  /** Starts announcing `target`: the first announcement goes out now, the rest of the burst on timers. */
  takeover(target: GarpTarget): void {
    this.cancel(target);
    this.announced.set(key(target), target);
    if (this.config.burstCount <= 0) return;
    this.announce(target);
    let left = this.config.burstCount - 1;
    if (left <= 0) return;
    const timer = setInterval(() => {
      this.announce(target);
      if (--left <= 0) this.cancel(target, false);
    }, this.config.burstIntervalMs);
    timer.unref();
    this.bursts.set(key(target), timer);
  }

  /** Stops announcing `target` (its burst, if still running, and its refresh). */
  withdraw(target: Pick<GarpTarget, 'vip' | 'ifname'>): void {
    this.cancel(target);
    this.announced.delete(key(target));
  }

  stop(): void {
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    this.refreshTimer = undefined;
    for (const t of this.bursts.values()) clearInterval(t);
    this.bursts.clear();
    this.announced.clear();
  }

  private cancel(target: Pick<GarpTarget, 'vip' | 'ifname'>, forget = true): void {
    const timer = this.bursts.get(key(target));
    if (timer) clearInterval(timer);
    if (forget || timer) this.bursts.delete(key(target));
  }

  private refresh(): void {
    for (const target of this.announced.values()) this.announce(target);
  }

  private announce(target: GarpTarget): void {
    try {
      for (const frame of garpFrames(target.mac, target.vip)) {
        this.sender.send(target.ifindex, ETH_P_ARP, frame);
        this.sent++;
      }
    } catch (err) {
      // A link that just went away fails here; the next reconcile withdraws the target.
      this.logger.warn({ err, vip: target.vip, interface: target.ifname }, 'gratuitous ARP failed');
    }
  }
}
