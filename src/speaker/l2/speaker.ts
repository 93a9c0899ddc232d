// The L2 announcement component of the speaker: from membership (Leases, heartbeats), the VIPs and the
// L2Announcements, decide which VIPs this node owns and make the kernel answer ARP for exactly those.
// Every change (Lease, claim, announcement, link, heartbeat) schedules one reconcile; reconciles never overlap.
// A short tick re-evaluates liveness alone (no netlink) so that expiries and silent peers are noticed quickly.
//
// Graceful stop (handover): mark our Lease leaving, tell peers "bye", keep answering until every live peer
// acknowledged that it applied a view without us (or a timeout), then withdraw and delete the Lease.
import { evaluateLiveness, type LivenessResult, type PeerObservation } from '../../core/l2/liveness.ts';
import {
  decideOwnership,
  localAnnouncements,
  publishableInterfaces,
  type Member,
  type OwnershipDecision,
} from '../../core/l2/ownership.ts';
import { RendezvousScores } from '../../core/l2/rendezvous.ts';
import type { LinkInfo } from '../../core/l2/interfaces.ts';
import type { Logger } from '../../shared/logger.ts';
import type { Announcer } from './announcer.ts';
import type { DuplicateAddressGate } from './dad.ts';
import type { L2Inputs, VipEntry } from './inputs.ts';
import type { LeaseMembership, PeerRecord } from './membership.ts';
import { parsePeerAddress, type PeerAddress } from './probe-wire.ts';
import type { ProbeChannel } from './probes.ts';
import type { Rtnl } from './rtnl.ts';
import type { AnnouncedStatusWriter } from './status.ts';

/** Where ownership decisions go after each reconcile: the Announced writer, or the full speaker's status writer. */
export type L2StatusSink = Pick<AnnouncedStatusWriter, 'report' | 'stop'>;

/** How long input events are gathered before deciding whether they changed anything. */
const INPUT_GATHER_MS = 50;

export interface L2SpeakerConfig {
  readonly nodeName: string;
  /** host:port advertised for heartbeats; undefined when there is no probe channel. */
  readonly peerAddress: string | undefined;
  /** Heartbeat silence that marks a peer dead; undefined: fast probes off (Leases alone). */
  readonly probeTimeoutMs: number | undefined;
  /** Longest wait for peers to take over on graceful stop. */
  readonly handoverTimeoutMs: number;
  /** Without a probe channel, how long to keep answering after marking the Lease leaving. */
  readonly handoverGraceMs: number;
  /** Liveness re-evaluation period. */
  readonly tickMs: number;
  /** Full reconcile period even without events (repairs kernel state changed behind our back). */
  readonly resyncMs: number;
}

export interface L2SpeakerDeps {
  readonly membership: LeaseMembership;
  readonly probes: ProbeChannel | undefined;
  readonly inputs: L2Inputs;
  readonly rtnl: Rtnl;
  readonly announcer: Announcer;
  readonly status: L2StatusSink | undefined;
  /** Duplicate-address probing of VIPs new to the fleet; undefined: off. */
  readonly dad?: DuplicateAddressGate | undefined;
  readonly logger: Logger;
  readonly now: () => number;
}

export class L2Speaker {
  readonly #cfg: L2SpeakerConfig;
  readonly #d: L2SpeakerDeps;
  #leaving = false;
  #handingOver = false;
  #everFresh = false;
  #lastFreshLive: string[] = [];
  #lastLive: LivenessResult | undefined;
  #links: LinkInfo[] = [];
  #advertisedInterfaces: string[] = [];
  #defaultInterface: string | undefined;
  #timers: NodeJS.Timeout[] = [];
  #unwatch: (() => void) | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  /** Whether the last tick found heartbeat silence judgeable (for logging the change). */
  #judging = true;
  /** No more reconciles (set first on stop and on the last step of a handover). */
  #stopped = false;
  #closed = false;
  readonly #scores = new RendezvousScores();
  #inputsTimer: NodeJS.Timeout | undefined;
  /** Fingerprint of the inputs the last reconcile decided from. */
  #lastInputs = '';
  /**
   * VIPs the fleet has announced, as far as this node knows: seen owned by a live peer, announced here, or
   * reported Announced in a claim's status. Taking one of them over needs no duplicate-address probe.
   */
  readonly #fleetHeld = new Set<string>();

  constructor(cfg: L2SpeakerConfig, deps: L2SpeakerDeps) {
    this.#cfg = cfg;
    this.#d = deps;
  }

  async start(): Promise<void> {
    const { announcer, probes, inputs, membership, rtnl } = this.#d;
    await announcer.start();
    await probes?.start();
    await inputs.start();
    await this.#readLinks();
    await membership.start(this.#advertisement());
    membership.onChange(() => this.schedule());
    inputs.onChange(() => this.#inputsChanged());
    probes?.onMessage(() => this.schedule());
    this.#unwatch = rtnl.watch(() => this.schedule());
    this.#timers.push(
      setInterval(() => this.#tick(), this.#cfg.tickMs),
      setInterval(() => this.schedule(), this.#cfg.resyncMs),
    );
    this.schedule();
  }

  /** Live nodes by the last evaluation (for tests and the benchmark). */
  live(): readonly string[] {
    return this.#lastLive?.live ?? [];
  }

  /** Graceful stop: hand VIPs over, then withdraw and release the Lease. */
  async handover(): Promise<void> {
    const { membership, probes, logger } = this.#d;
    this.#leaving = true;
    this.#handingOver = true;
    const peers = (this.#lastLive?.live ?? []).filter((n) => n !== this.#cfg.nodeName);
    const owned = this.#d.announcer.current().size;
    logger.info({ peers, vips: owned }, 'handing over before stopping');
    await membership.markLeaving();
    if (probes) {
      const seq = probes.sendBye();
      const missing = await probes.waitForAcks(seq, peers, this.#cfg.handoverTimeoutMs);
      if (missing.length > 0)
        logger.warn({ missing }, 'handover: peers did not acknowledge in time; withdrawing anyway');
    } else {
      await new Promise((r) => setTimeout(r, Math.min(this.#cfg.handoverGraceMs, this.#cfg.handoverTimeoutMs)));
    }
    this.#handingOver = false;
    await this.#quiesce();
    await this.#d.announcer.withdrawAll(await this.#d.rtnl.links());
    await membership.release();
    logger.info('handover done');
    await this.stop();
  }

  /** Stops everything; whatever is still announced disappears with the sink link. */
  async stop(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#quiesce();
    this.#unwatch?.();
    this.#d.dad?.stop();
    this.#d.status?.stop();
    await this.#d.membership.stop();
    await this.#d.inputs.stop();
    await this.#d.probes?.stop();
    this.#d.announcer.stop();
    this.#d.rtnl.close();
  }

  schedule(): void {
    if (this.#stopped) return;
    this.#again = true;
    this.#running ??= this.#loop().finally(() => {
      this.#running = undefined;
    });
  }

  /**
   * Input events are gathered for a moment, then compared with what the last reconcile used: status-only claim
   * updates (the speakers' own Announced writes, other programs' conditions) and informer replays change nothing
   * here, and with many VIPs a reconcile for each of them would be most of the speaker's work.
   */
  #inputsChanged(): void {
    if (this.#inputsTimer || this.#stopped) return;
    this.#inputsTimer = setTimeout(() => {
      this.#inputsTimer = undefined;
      if (this.#inputsFingerprint() !== this.#lastInputs) this.schedule();
    }, INPUT_GATHER_MS);
  }

  #inputsFingerprint(): string {
    const { inputs, membership } = this.#d;
    const nodes = [this.#cfg.nodeName, ...membership.peers().map((p) => p.name)].sort();
    const rules = inputs
      .rules()
      .map((r) => [
        r.name,
        r.poolSelector,
        r.nodeSelector,
        r.interfaces.map((i) => (i.kind === 'name' ? i.name : `/${i.source}/`)),
      ]);
    // The fleet's report (the speakers' own Announced writes) is read at each reconcile, never a reason for one.
    const vips = inputs.vips().map(({ fleet: _, ...v }) => v);
    return JSON.stringify([vips, rules, nodes.map((n) => [n, inputs.nodeLabels(n)])]);
  }

  async #quiesce(): Promise<void> {
    if (this.#inputsTimer) clearTimeout(this.#inputsTimer);
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    this.#stopped = true;
    await this.#running;
  }

  async #loop(): Promise<void> {
    while (this.#again && !this.#stopped) {
      this.#again = false;
      try {
        await this.#reconcile();
      } catch (err) {
        this.#d.logger.warn({ err }, 'L2 reconcile failed; retrying at the next event or resync');
      }
    }
  }

  /**
   * Cheap liveness check between reconciles: reconcile when the live set changes. Heartbeats are stamped on
   * arrival by their own thread, so a stall of this one (a dataplane pass) costs judging no accuracy; only a
   * stall of that thread voids silence for a moment (ProbeChannel.judgeable).
   */
  #tick(): void {
    const judging = this.#d.probes?.judgeable() ?? true;
    if (judging !== this.#judging) {
      this.#judging = judging;
      if (!judging) this.#d.logger.warn('the heartbeat thread ran late; not judging heartbeat silence for a moment');
      else this.#d.logger.info('judging heartbeat silence again');
    }
    setImmediate(() => {
      const result = this.#evaluate(this.#d.membership.peers());
      if (result && result.live.join(',') !== (this.#lastLive?.live ?? []).join(',')) this.schedule();
    });
  }

  #advertisement() {
    return {
      interfaces: this.#advertisedInterfaces,
      defaultInterface: this.#defaultInterface,
      peer: this.#cfg.peerAddress,
      leaving: this.#leaving,
      macs: [
        ...new Set(
          this.#links.filter((l) => this.#advertisedInterfaces.includes(l.name)).map((l) => l.mac.toLowerCase()),
        ),
      ].sort(),
    };
  }

  async #readLinks(): Promise<void> {
    const { rtnl, inputs } = this.#d;
    this.#links = await rtnl.links();
    const def = await rtnl.defaultRouteInterface();
    const usable = this.#links.filter((l) => l.up && l.arpCapable).map((l) => l.name);
    this.#defaultInterface = def !== undefined && usable.includes(def) ? def : undefined;
    this.#advertisedInterfaces = publishableInterfaces(
      inputs.rules(),
      inputs.nodeLabels(this.#cfg.nodeName),
      usable,
      this.#defaultInterface,
    );
  }

  #evaluate(peers: readonly PeerRecord[]): LivenessResult | undefined {
    const { membership, probes } = this.#d;
    const fresh = membership.apiFresh();
    if (fresh) this.#everFresh = true;
    // Until our own Lease was written once and the Leases listed, we know nothing: announce nothing.
    if (!this.#everFresh) return undefined;
    const observations: PeerObservation[] = peers.map((p) => ({
      name: p.name,
      lease: { durationMs: p.durationMs, leaving: p.leaving },
      leaseSeenRenewedAt: p.seenRenewedAt,
      ...(probes ? probes.heardFrom(p.name) : {}),
    }));
    const result = evaluateLiveness({
      self: this.#cfg.nodeName,
      selfLeaving: this.#leaving,
      now: this.#d.now(),
      apiFresh: fresh,
      apiFreshSince: membership.apiFreshSince(),
      lastFreshLive: this.#lastFreshLive,
      probeTimeoutMs: this.#d.probes?.judgeable() === false ? undefined : this.#cfg.probeTimeoutMs,
      peers: observations,
    });
    if (fresh) this.#lastFreshLive = result.live;
    return result;
  }

  async #reconcile(): Promise<void> {
    const { membership, probes, inputs, announcer, status, logger } = this.#d;
    const byes = probes?.pendingByes() ?? new Map<string, number>();
    this.#lastInputs = this.#inputsFingerprint();
    await this.#readLinks();
    membership.advertise(this.#advertisement());
    const peers = membership.peers();
    probes?.setPeers(
      peers.map((p) => parsePeerAddress(p.name, p.peer)).filter((p): p is PeerAddress => p !== undefined),
    );
    const result = this.#evaluate(peers);
    if (!result) return;
    this.#logLivenessChanges(result);
    this.#lastLive = result;

    const byName = new Map(peers.map((p) => [p.name, p] as const));
    const members: Member[] = result.live.map((name) =>
      name === this.#cfg.nodeName
        ? {
            name,
            labels: inputs.nodeLabels(name),
            interfaces: this.#advertisedInterfaces,
            defaultInterface: this.#defaultInterface,
          }
        : {
            name,
            labels: inputs.nodeLabels(name),
            interfaces: byName.get(name)?.interfaces ?? [],
            defaultInterface: byName.get(name)?.defaultInterface,
          },
    );
    const rules = inputs.rules();
    const pick = (vip: string, candidates: Iterable<string>) => this.#scores.owner(vip, candidates);
    const decided = inputs
      .vips()
      .map((entry) => ({ entry, decision: decideOwnership(this.#cfg.nodeName, entry, rules, members, pick) }));
    this.#noteFleetHeld(decided, result.live);
    const owned = localAnnouncements(decided.map((x) => x.decision));
    // A VIP new to the fleet is announced only once a duplicate-address probe found it free.
    const gated =
      this.#d.dad && !this.#handingOver
        ? this.#d.dad.gate(
            owned,
            announcer.current(),
            (vip) => this.#fleetHeld.has(vip),
            this.#links,
            this.#lbMacs(peers),
          )
        : undefined;
    // While handing over, keep answering for what we have until the peers confirmed they took it.
    const desired = this.#handingOver ? announcer.current() : (gated?.desired ?? owned);
    await announcer.apply(desired, this.#links);
    for (const vip of announcer.current().keys()) this.#fleetHeld.add(vip);
    const inUse = gated?.inUse;
    const reported = inUse?.size
      ? decided.map((x) => {
          const c = inUse.get(x.entry.vip);
          return c
            ? {
                entry: x.entry,
                decision: { ...x.decision, reason: 'addressInUse' as const, inUse: { mac: c.mac, ifname: c.ifname } },
              }
            : x;
        })
      : decided;
    if (!this.#leaving) status?.report(reported, result.live);
    const gone = new Map([...byes].filter(([name]) => !result.live.includes(name)));
    // A bye is acknowledged only after a reconcile in which its sender no longer counted (else the next one).
    if (gone.size > 0) probes?.sendAcks(gone);
    logger.debug({ live: result.live, vips: decided.length, owned: desired.size }, 'L2 reconciled');
  }

  /** Updates fleetHeld from the claims' reports and who owns what now (see fleetHeld). */
  #noteFleetHeld(decided: readonly { entry: VipEntry; decision: OwnershipDecision }[], live: readonly string[]): void {
    const present = new Set<string>();
    for (const { entry, decision } of decided) {
      present.add(entry.vip);
      if (entry.fleet === 'announced') this.#fleetHeld.add(entry.vip);
      else if (entry.fleet === 'addressInUse' && !this.#d.announcer.current().has(entry.vip))
        this.#fleetHeld.delete(entry.vip);
      // A live peer owns it and has not reported a conflict: it answers for it (or will, in a moment).
      else if (decision.reason === 'notOwner' && decision.owner !== undefined && live.includes(decision.owner))
        this.#fleetHeld.add(entry.vip);
    }
    for (const vip of this.#fleetHeld) if (!present.has(vip)) this.#fleetHeld.delete(vip);
  }

  /** MACs of every LB node's announcing interfaces (ours included): their ARP answers are never a conflict. */
  #lbMacs(peers: readonly PeerRecord[]): Set<string> {
    const macs = new Set(this.#links.map((l) => l.mac.toLowerCase()));
    for (const p of peers) for (const m of p.macs) macs.add(m.toLowerCase());
    return macs;
  }

  #logLivenessChanges(next: LivenessResult): void {
    const prev = this.#lastLive;
    if (prev && prev.live.join(',') === next.live.join(',')) return;
    const changed = [...next.verdicts].filter(([name, v]) => prev?.verdicts.get(name)?.live !== v.live);
    this.#d.logger.info(
      { live: next.live, changed: Object.fromEntries(changed.map(([name, v]) => [name, v.reason])) },
      'LB node membership changed',
    );
  }
}
