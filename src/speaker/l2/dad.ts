// Duplicate-address probing before a VIP new to the fleet is announced (decisions in
// src/core/l2/duplicate-address.ts). Probes go out on the gratuitous-ARP sender's packet socket; answers are read
// from a receive socket on each announcing interface, opened for the length of one probe only (native/src/arp.c).
// A probe runs beside the reconcile loop: the VIP is left out of the announcements until it ends, and its end
// schedules a reconcile.
import { decodeArp, ETH_P_ARP, probeRequest } from '../../core/l2/arp-frame.ts';
import { claimantOf, DuplicateAddressBook, type AddressInUse, type DadRetry } from '../../core/l2/duplicate-address.ts';
import type { LinkInfo } from '../../core/l2/interfaces.ts';
import type { Logger } from '../../shared/logger.ts';
import type { FrameSender } from './garp.ts';

export interface DadConfig {
  /** Probes per VIP; 0 turns duplicate-address detection off. */
  readonly probes: number;
  /** Delay between probes. */
  readonly intervalMs: number;
  /** How long to keep listening after the last probe. */
  readonly waitMs: number;
  readonly retry: DadRetry;
}

/** Receives an interface's ARP frames without blocking (an ArpListener in production). */
export interface FrameSource {
  next(): Uint8Array | undefined;
  close(): void;
}

export interface ProbeTarget {
  readonly ifname: string;
  readonly ifindex: number;
  readonly mac: string;
}

/** How often a probe drains its receive sockets; the answer of a host on the segment comes within a millisecond. */
const POLL_MS = 5;

/**
 * Probes `vip` on every target: `config.probes` requests `config.intervalMs` apart, listening until
 * `config.waitMs` after the last. Resolves with the first foreign claimant, or undefined when none answered.
 */
export async function probeAddress(
  vip: string,
  targets: readonly ProbeTarget[],
  ours: ReadonlySet<string>,
  config: Pick<DadConfig, 'probes' | 'intervalMs' | 'waitMs'>,
  io: { readonly sender: FrameSender; readonly listen: (ifindex: number) => FrameSource },
): Promise<{ mac: string; ifname: string } | undefined> {
  const ears = targets.map((t) => ({ target: t, source: io.listen(t.ifindex) }));
  try {
    // Timed from the sends, not from the start: a stalled event loop (a long dataplane pass) delays the probes,
    // it never skips one or cuts the wait after the last.
    let sent = 0;
    let nextAt = performance.now();
    let end = Infinity;
    for (;;) {
      // Listening first: an answer to the previous probe is read before the next goes out, and before giving up.
      for (const { target, source } of ears) {
        for (let frame = source.next(); frame; frame = source.next()) {
          const p = decodeArp(frame);
          const mac = p && claimantOf(p, vip, ours);
          if (mac) return { mac, ifname: target.ifname };
        }
      }
      const now = performance.now();
      if (now >= end) return undefined;
      if (sent < config.probes && now >= nextAt) {
        for (const t of targets) io.sender.send(t.ifindex, ETH_P_ARP, probeRequest(t.mac, vip));
        sent++;
        nextAt = now + config.intervalMs;
        if (sent === config.probes) end = now + config.waitMs;
      }
      const wakeAt = sent < config.probes ? nextAt : end;
      await new Promise((r) => setTimeout(r, Math.min(POLL_MS, Math.max(1, wakeAt - performance.now()))));
    }
  } finally {
    for (const { source } of ears) source.close();
  }
}

export interface DadGateOptions {
  readonly config: DadConfig;
  readonly sender: FrameSender;
  readonly listen: (ifindex: number) => FrameSource;
  readonly logger: Logger;
  readonly now: () => number;
  /** A probe ended or a retry fell due: the announcements should be decided again. */
  readonly onSettled: () => void;
  /** A probe found the VIP in use (the speaker records an Event). */
  readonly onInUse?: ((conflict: AddressInUse) => void) | undefined;
}

export interface GateResult {
  /** What may be announced now. */
  readonly desired: Map<string, readonly string[]>;
  /** VIPs owned here that another host answers for, with the last conflict. */
  readonly inUse: ReadonlyMap<string, AddressInUse>;
}

/** Holds back first announcements until a probe found the VIP free. */
export class DuplicateAddressGate {
  readonly #o: DadGateOptions;
  readonly #book: DuplicateAddressBook;
  #retryTimer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(o: DadGateOptions) {
    this.#o = o;
    this.#book = new DuplicateAddressBook(o.config.retry);
  }

  /**
   * Filters `desired` (VIP → interfaces this node owns): VIPs already announced here, and VIPs the fleet has
   * announced before (`fleetHeld`: a takeover), pass at once; the others pass once a probe found them free.
   * `ours`: every LB node's announcing MACs, whose answers do not count.
   */
  gate(
    desired: ReadonlyMap<string, readonly string[]>,
    announced: ReadonlyMap<string, readonly string[]>,
    fleetHeld: (vip: string) => boolean,
    links: readonly LinkInfo[],
    ours: ReadonlySet<string>,
  ): GateResult {
    const out = new Map<string, readonly string[]>();
    const inUse = new Map<string, AddressInUse>();
    const probing = new Set<string>();
    const now = this.#o.now();
    for (const [vip, ifs] of desired) {
      if (announced.has(vip) || fleetHeld(vip) || this.#o.config.probes <= 0) {
        out.set(vip, ifs);
        continue;
      }
      probing.add(vip);
      const step = this.#book.step(vip, now);
      if (step.action === 'announce') out.set(vip, ifs);
      else if (step.inUse) inUse.set(vip, step.inUse);
      if (step.action === 'probe') this.#start(vip, ifs, links, ours);
    }
    this.#book.retain(probing);
    this.#armRetry();
    return { desired: out, inUse };
  }

  stop(): void {
    this.#stopped = true;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
  }

  #start(vip: string, ifs: readonly string[], links: readonly LinkInfo[], ours: ReadonlySet<string>): void {
    const targets = ifs.flatMap((name) => {
      const l = links.find((x) => x.name === name);
      return l ? [{ ifname: l.name, ifindex: l.index, mac: l.mac }] : [];
    });
    if (targets.length === 0) return;
    this.#book.started(vip);
    const { logger } = this.#o;
    const startedAt = performance.now();
    let failed = false;
    probeAddress(vip, targets, ours, this.#o.config, { sender: this.#o.sender, listen: this.#o.listen })
      .then((claimant) => {
        if (!claimant) {
          this.#book.free(vip);
          logger.info(
            { vip, ms: Math.round(performance.now() - startedAt) },
            'duplicate-address probe: free, announcing',
          );
          return;
        }
        const conflict = this.#book.taken(vip, claimant.mac, claimant.ifname, this.#o.now());
        if (!conflict) return;
        logger.warn(
          {
            vip,
            mac: claimant.mac,
            interface: claimant.ifname,
            conflicts: conflict.conflicts,
            retryInMs: Math.round(conflict.retryAt - this.#o.now()),
          },
          'L2_ADDRESS_IN_USE: another host answers ARP for this VIP; not announcing it',
        );
        this.#o.onInUse?.(conflict);
      })
      .catch((err: unknown) => {
        // A socket that could not be opened or a send that failed (a link that just went away): never announce
        // on a probe that did not run; the next reconcile probes again.
        logger.warn({ err, vip }, 'duplicate-address probe failed; probing again');
        this.#book.forget(vip);
        failed = true;
      })
      .finally(() => {
        if (this.#stopped) return;
        if (!failed) this.#o.onSettled();
        else setTimeout(() => this.#stopped || this.#o.onSettled(), this.#o.config.retry.minMs).unref();
      });
  }

  #armRetry(): void {
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    const at = this.#book.nextRetryAt();
    if (at === undefined || this.#stopped) return;
    this.#retryTimer = setTimeout(() => this.#o.onSettled(), Math.max(0, at - this.#o.now()));
    this.#retryTimer.unref();
  }
}
