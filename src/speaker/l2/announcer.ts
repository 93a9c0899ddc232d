// Makes the kernel answer ARP for the VIPs this node owns, and only those, by reconciling its state with the
// desired announcements (VIP → interfaces). For a VIP on an interface the kernel needs (arp_process in
// net/ipv4/arp.c):
//   1. a unicast route for the VIP out of a device other than the interface: a /32 route to the sink link, a
//      TAP that lives as long as this process — so the VIP never becomes a local address (no host service is
//      reachable through it) and a killed speaker stops answering at once;
//   2. a proxy neighbour entry (NTF_PROXY) for the VIP on the interface;
//   3. forwarding on the interface and proxy_delay 0 (src/speaker/l2/sysctl.ts).
// Installs go route → proxy entry → gratuitous ARP; removals go proxy entry → route. Each apply reads the kernel's
// state, so entries lost behind our back (the kernel flushes proxy entries when a link goes down) come back.
import type { LinkInfo } from '../../core/l2/interfaces.ts';
import { diffAnnouncements, type AnnouncementChange } from '../../core/l2/ownership.ts';
import type { Logger } from '../../shared/logger.ts';
import type { GarpSender } from './garp.ts';
import type { Rtnl } from './rtnl.ts';
import { applySysctls, proxyArpSettings, sinkSettings } from './sysctl.ts';
import { KubeLbError } from '../../shared/errors.ts';

/** The process-lifetime link VIP routes point at (a TapLink in production). */
export interface SinkLink {
  readonly name: string;
  close(): void;
}

export interface AnnouncerOptions {
  readonly rtnl: Rtnl;
  readonly garp: GarpSender;
  readonly logger: Logger;
  readonly sinkName: string;
  readonly openSink: (name: string) => SinkLink;
  /** Root of the sysctls to write (default /proc/sys; the speaker container mounts the host's elsewhere). */
  readonly procSysDir?: string;
  /** Called after every apply, with the VIPs announced now (metrics: ownership changes). */
  readonly onApplied?: (result: ApplyResult, announced: ReadonlyMap<string, readonly string[]>) => void;
}

export interface ApplyResult {
  readonly added: AnnouncementChange[];
  readonly removed: AnnouncementChange[];
  /** Operations that failed this time; the next apply retries them. */
  readonly errors: { readonly op: string; readonly error: unknown }[];
}

const pairKey = (ifindex: number, ip: string): string => `${ifindex}/${ip}`;

export class Announcer {
  readonly #opts: AnnouncerOptions;
  #sink: SinkLink | undefined;
  #sinkIndex = 0;
  /** What this process has announced: VIP → interface names. */
  #announced = new Map<string, readonly string[]>();
  readonly #linkIndex = new Map<string, LinkInfo>();

  constructor(opts: AnnouncerOptions) {
    this.#opts = opts;
  }

  /** Creates the sink link and removes proxy entries a previous run of the speaker left behind. */
  async start(): Promise<void> {
    const { rtnl, logger } = this.#opts;
    this.#sink = this.#opts.openSink(this.#opts.sinkName);
    const link = (await rtnl.links()).find((l) => l.name === this.#opts.sinkName);
    if (!link)
      throw new KubeLbError('L2_SINK_LINK', `sink link ${this.#opts.sinkName} did not appear after it was created`);
    this.#sinkIndex = link.index;
    await applySysctls(sinkSettings(this.#opts.sinkName, this.#opts.procSysDir), { optional: true });
    await rtnl.setUpNoArp(link.index);
    const stale = (await rtnl.proxyEntries()).filter((e) => e.ours);
    for (const e of stale) await rtnl.delProxy(e.ifindex, e.ip);
    if (stale.length > 0) logger.info({ count: stale.length }, 'removed proxy entries left by an earlier run');
  }

  /** The VIPs currently announced, with their interfaces. */
  current(): ReadonlyMap<string, readonly string[]> {
    return this.#announced;
  }

  /** Makes the kernel match `desired`, restricted to links that exist and can answer now. */
  async apply(desired: ReadonlyMap<string, readonly string[]>, links: readonly LinkInfo[]): Promise<ApplyResult> {
    const { rtnl, garp, logger } = this.#opts;
    this.#linkIndex.clear();
    for (const l of links) if (l.up && l.arpCapable) this.#linkIndex.set(l.name, l);
    const effective = new Map<string, string[]>();
    for (const [vip, ifs] of desired) {
      const usable = ifs.filter((n) => this.#linkIndex.has(n));
      if (usable.length > 0) effective.set(vip, usable);
    }
    const errors: ApplyResult['errors'] = [];
    const attempt = async (op: string, fn: () => Promise<unknown>): Promise<boolean> => {
      try {
        await fn();
        return true;
      } catch (error) {
        errors.push({ op, error });
        return false;
      }
    };

    const proxies = new Set((await rtnl.proxyEntries()).filter((e) => e.ours).map((e) => pairKey(e.ifindex, e.ip)));
    const routes = new Set(await rtnl.routes(this.#sinkIndex));
    const prepared = new Set<string>();
    const { add, remove } = diffAnnouncements(this.#announced, effective);
    const added: AnnouncementChange[] = [];
    const next = new Map<string, string[]>();

    for (const [vip, ifs] of effective) {
      if (!routes.has(vip) && !(await attempt(`route ${vip}`, () => rtnl.addRoute(vip, this.#sinkIndex)))) continue;
      for (const ifname of ifs) {
        const link = this.#linkIndex.get(ifname)!;
        if (!prepared.has(ifname)) {
          if (
            !(await attempt(`sysctls ${ifname}`, () => applySysctls(proxyArpSettings(ifname, this.#opts.procSysDir))))
          )
            continue;
          prepared.add(ifname);
        }
        if (
          !proxies.has(pairKey(link.index, vip)) &&
          !(await attempt(`proxy ${vip}@${ifname}`, () => rtnl.addProxy(link.index, vip)))
        ) {
          continue;
        }
        next.set(vip, [...(next.get(vip) ?? []), ifname]);
        if (add.some((c) => c.vip === vip && c.ifname === ifname)) {
          garp.takeover({ vip, ifname, ifindex: link.index, mac: link.mac });
          added.push({ vip, ifname });
        }
      }
    }

    // Withdraw what is announced (by us or by an earlier run) and not wanted: the dump above holds everything
    // of ours that existed before this apply, and this apply only added wanted entries.
    const wanted = new Set(
      [...next].flatMap(([vip, ifs]) => ifs.map((n) => pairKey(this.#linkIndex.get(n)!.index, vip))),
    );
    for (const key of proxies) {
      if (wanted.has(key)) continue;
      const [ifindex, ip] = key.split('/') as [string, string];
      await attempt(`unproxy ${ip}@${ifindex}`, () => rtnl.delProxy(Number(ifindex), ip));
    }
    for (const vip of routes) {
      if (!next.has(vip)) await attempt(`unroute ${vip}`, () => rtnl.delRoute(vip, this.#sinkIndex));
    }
    for (const c of remove) garp.withdraw(c);
    this.#announced = next;
    if (added.length > 0 || remove.length > 0) {
      logger.info(
        { added: added.map((c) => `${c.vip}@${c.ifname}`), removed: remove.map((c) => `${c.vip}@${c.ifname}`) },
        'announcements changed',
      );
    }
    for (const e of errors) logger.warn({ err: e.error, op: e.op }, 'announcement step failed; will retry');
    const result = { added, removed: remove, errors };
    this.#opts.onApplied?.(result, this.#announced);
    return result;
  }

  /** Stops answering for every VIP (proxy entries first, then routes). */
  async withdrawAll(links: readonly LinkInfo[]): Promise<ApplyResult> {
    return this.apply(new Map(), links);
  }

  /** Closes the sink link: any route left through it disappears with it. */
  stop(): void {
    this.#opts.garp.stop();
    this.#sink?.close();
    this.#sink = undefined;
  }
}
