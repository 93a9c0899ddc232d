// The speaker's BGP part: from the BGP objects and the VIPs this node serves to the FRR configuration (one
// rendered text, applied by difference, so a session whose lines did not change is never reset), and from FRR's
// session state back to each BGPPeer's status (this node's entry of status.nodes, written by server-side apply
// with a field manager of this node's own, so nodes never overwrite each other). One apply runs at a time; a
// failed one is retried with backoff, and the last good configuration stays in FRR meanwhile.
import { renderFrrConfig, passwordProblem } from '../../core/bgp/frr-config.ts';
import { incrementalCommands } from '../../core/bgp/frr-diff.ts';
import type { AdvertisementInput, BfdProfileInput, BgpPlan, PeerInput, ServedVip } from '../../core/bgp/plan.ts';
import { planBgp } from '../../core/bgp/plan.ts';
import type { BfdPeerState, BfdStatus, BgpSessionState, NeighborState } from '../../core/bgp/frr-state.ts';
import type { Logger } from '../../shared/logger.ts';
import { Backoff, type BackoffPolicy } from '../../shared/backoff.ts';
import type { Condition } from '../../api/v1alpha1.ts';
import { conditionUnchanged, setCondition } from '../../core/conditions.ts';
import { type NodeSession, summarizePeer } from '../../core/bgp/peer-summary.ts';

/** What the speaker needs of the BGP daemon (src/speaker/bgp/frr.ts). */
export interface BgpDaemon {
  apply(configText: string): Promise<void>;
  /** Applies configuration commands that lead from the applied configuration to `configText`. */
  configure(commands: readonly string[], configText: string): Promise<void>;
  neighbors(): Promise<readonly Pick<NeighborState, 'peer' | 'state' | 'lastError' | 'prefixesSent'>[]>;
  bfdPeers(): Promise<readonly Pick<BfdPeerState, 'peer' | 'status'>[]>;
}

/** The BGP objects as the speaker reads them, converted (src/speaker/bgp/inputs.ts). */
export interface BgpObjects {
  peers(): readonly (Omit<PeerInput, 'password'> & { readonly passwordSecret?: { name: string; key: string } })[];
  advertisements(): readonly AdvertisementInput[];
  bfdProfiles(): readonly BfdProfileInput[];
  /** A key of a Secret in the speakers' namespace; undefined when the Secret or the key is missing. */
  secretValue(name: string, key: string): string | undefined;
  /** Every BGPPeer's status as written, for the summary. */
  statuses(): readonly PeerStatusView[];
}

export interface PeerStatusView {
  readonly name: string;
  readonly nodes: readonly NodeSession[];
  readonly established?: string | undefined;
  readonly conditions?: readonly Condition[] | undefined;
}

/** This node's entry in a BGPPeer's status.nodes. */
export interface PeerNodeStatus {
  readonly node: string;
  readonly session: BgpSessionState;
  readonly bfd?: BfdStatus | undefined;
  readonly message?: string | undefined;
  readonly since?: string | undefined;
  readonly prefixesAdvertised?: number | undefined;
}

export interface PeerStatusSink {
  /** Writes this node's entry of the BGPPeer's status.nodes; undefined removes it. */
  write(peer: string, entry: PeerNodeStatus | undefined): Promise<void>;
  /** Writes the BGPPeer's summary: status.established and its Established condition. */
  writeSummary(peer: string, summary: { established: string; conditions: Condition[] }): Promise<void>;
  /** Removes another node's entry, at `index` of status.nodes, if it is still there. */
  removeEntry(peer: string, node: string, index: number): Promise<void>;
}

export interface BgpSpeakerDeps {
  readonly nodeName: string;
  readonly objects: BgpObjects;
  readonly daemon: BgpDaemon;
  readonly served: () => readonly ServedVip[];
  readonly nodeLabels: () => Readonly<Record<string, string>>;
  readonly routerId?: string | undefined;
  readonly status: PeerStatusSink;
  readonly statusPeriodMs: number;
  /** The LB nodes alive in the L2 membership's view; the first by name writes the BGPPeers' summaries. */
  readonly liveNodes: () => readonly string[];
  /** Whether the LB cluster has this Node: the entry of a node that is neither alive nor a Node goes. */
  readonly nodeExists: (name: string) => boolean;
  readonly logger: Logger;
  /** Called after every apply attempt (metrics). */
  readonly onApplied?: ((r: { ok: boolean; prefixes: number; peers: number; ms: number }) => void) | undefined;
}

/** Retrying a failed apply: 0.5 s doubling to 30 s, with jitter (every node may fail alike, e.g. on a bad peer). */
const APPLY_BACKOFF: BackoffPolicy = { initialMs: 500, maxMs: 30_000, jitter: 'equal' };

export class BgpSpeaker {
  readonly #d: BgpSpeakerDeps;
  #plan: BgpPlan | undefined;
  /** Problems of peers the plan never sees (a missing Secret), by peer name. */
  #peerProblems = new Map<string, string>();
  #applied: string | undefined;
  #reloadNext = false;
  #running: Promise<void> | undefined;
  #again = false;
  #withdrawn = false;
  #stopped = false;
  readonly #backoff = new Backoff(APPLY_BACKOFF);
  #retryTimer: NodeJS.Timeout | undefined;
  #statusTimer: NodeJS.Timeout | undefined;
  #written = new Map<string, string>();
  #since = new Map<string, { session: BgpSessionState; at: string }>();
  applies = 0;
  lastError: Error | undefined;

  constructor(deps: BgpSpeakerDeps) {
    this.#d = deps;
  }

  start(): void {
    this.schedule();
    const tick = (): void => {
      this.#statusTimer = setTimeout(() => {
        void this.#writeStatus().finally(() => {
          if (!this.#stopped) tick();
        });
      }, this.#d.statusPeriodMs);
    };
    tick();
  }

  /** Re-plan and apply soon (coalesced; one apply at a time). */
  schedule(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.#sync().finally(() => {
      this.#running = undefined;
      if (this.#again && !this.#stopped) {
        this.#again = false;
        this.schedule();
      }
    });
  }

  /** Stops announcing every VIP, keeps the sessions (graceful stop: routers move flows before the node goes). */
  async withdraw(): Promise<void> {
    this.#withdrawn = true;
    await this.#running;
    await this.#sync();
  }

  /** Graceful stop: withdraws every route, keeps the sessions for `delayMs` while routers move flows, stops. */
  async drain(delayMs: number): Promise<void> {
    await this.withdraw();
    this.#d.logger.info({ delayMs }, 'BGP routes withdrawn; draining before exit');
    await new Promise((r) => setTimeout(r, delayMs));
    await this.stop();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    if (this.#statusTimer) clearTimeout(this.#statusTimer);
    await this.#running;
  }

  /** The current plan and what was applied, for /state. */
  snapshot(): Record<string, unknown> {
    return {
      withdrawn: this.#withdrawn,
      applies: this.applies,
      lastError: this.lastError?.message,
      peers: this.#plan?.peers.map((p) => ({
        name: p.name,
        address: p.address,
        prefixes: p.prefixes.map((x) => x.prefix),
      })),
      problems: [
        ...(this.#plan?.problems ?? []),
        ...[...this.#peerProblems].map(([name, message]) => ({ kind: 'BGPPeer', name, message })),
      ],
    };
  }

  #inputs(): Parameters<typeof planBgp>[0] {
    const problems = new Map<string, string>();
    const peers: PeerInput[] = [];
    for (const p of this.#d.objects.peers()) {
      const { passwordSecret, ...rest } = p;
      if (!passwordSecret) {
        peers.push(rest);
        continue;
      }
      const password = this.#d.objects.secretValue(passwordSecret.name, passwordSecret.key);
      const problem =
        password === undefined
          ? `spec.passwordSecret: Secret ${passwordSecret.name} (key ${passwordSecret.key}) not found; no session is opened without its password`
          : passwordProblem(password) && `spec.passwordSecret: ${passwordProblem(password)}`;
      if (problem) problems.set(p.name, problem);
      else peers.push({ ...rest, password });
    }
    this.#peerProblems = problems;
    return {
      node: { name: this.#d.nodeName, labels: this.#d.nodeLabels() },
      routerId: this.#d.routerId,
      peers,
      advertisements: this.#d.objects.advertisements(),
      bfdProfiles: this.#d.objects.bfdProfiles(),
      served: this.#withdrawn ? [] : this.#d.served(),
    };
  }

  async #sync(): Promise<void> {
    const plan = planBgp(this.#inputs());
    this.#plan = plan;
    const text = renderFrrConfig(plan);
    if (text === this.#applied) return;
    const started = performance.now();
    // Only announcements changed (the common case): the `network` lines go in one vtysh call, not a full reload.
    const commands =
      this.#applied === undefined || this.#reloadNext ? undefined : incrementalCommands(this.#applied, text);
    try {
      if (commands) await this.#d.daemon.configure(commands, text);
      else await this.#d.daemon.apply(text);
      this.#applied = text;
      this.applies++;
      this.lastError = undefined;
      this.#reloadNext = false;
      this.#backoff.reset();
      this.#d.logger.info(
        {
          peers: plan.peers.length,
          prefixes: plan.prefixes.length,
          ms: Math.round(performance.now() - started),
          how: commands ? 'incremental' : 'reload',
        },
        'BGP configuration applied',
      );
      this.#d.onApplied?.({
        ok: true,
        prefixes: plan.prefixes.length,
        peers: plan.peers.length,
        ms: performance.now() - started,
      });
    } catch (err) {
      this.lastError = err as Error;
      // Commands may have half applied: what FRR runs is unknown, and only a full reload converges from there.
      if (commands) this.#reloadNext = true;
      this.#d.onApplied?.({
        ok: false,
        prefixes: plan.prefixes.length,
        peers: plan.peers.length,
        ms: performance.now() - started,
      });
      if (!this.#stopped && !this.#retryTimer) {
        const retryMs = this.#backoff.fail(performance.now());
        this.#d.logger.error({ err, retryMs }, 'BGP configuration not applied; FRR keeps the last one');
        this.#retryTimer = setTimeout(() => {
          this.#retryTimer = undefined;
          this.schedule();
        }, retryMs);
      } else this.#d.logger.error({ err }, 'BGP configuration not applied; FRR keeps the last one');
    }
  }

  /** Reads the sessions from FRR and writes the entries that changed; entries of peers no longer held go. */
  async #writeStatus(): Promise<void> {
    const plan = this.#plan;
    if (!plan) return;
    let neighbors: Awaited<ReturnType<BgpDaemon['neighbors']>> = [];
    let bfd: Awaited<ReturnType<BgpDaemon['bfdPeers']>> = [];
    let readError: string | undefined;
    try {
      [neighbors, bfd] = await Promise.all([this.#d.daemon.neighbors(), this.#d.daemon.bfdPeers()]);
    } catch (err) {
      readError = `FRR did not answer: ${(err as Error).message}`;
    }
    const byAddress = new Map(neighbors.map((n) => [n.peer, n]));
    const bfdByAddress = new Map(bfd.map((b) => [b.peer, b]));
    const want = new Map<string, PeerNodeStatus>();
    for (const p of plan.peers) {
      const n = byAddress.get(p.address);
      const session: BgpSessionState = n?.state ?? 'Unknown';
      const prev = this.#since.get(p.name);
      const since = prev && prev.session === session ? prev.at : new Date().toISOString();
      this.#since.set(p.name, { session, at: since });
      const message =
        readError ??
        this.lastError?.message ??
        (session === 'Established' ? undefined : (n?.lastError ?? (n ? undefined : 'not configured in FRR yet')));
      want.set(p.name, {
        node: this.#d.nodeName,
        session,
        ...(p.bfd ? { bfd: bfdByAddress.get(p.address)?.status ?? 'Unknown' } : {}),
        ...(message ? { message } : {}),
        since,
        ...(n?.prefixesSent !== undefined ? { prefixesAdvertised: n.prefixesSent } : {}),
      });
    }
    for (const [name, message] of this.#peerProblems) {
      want.set(name, { node: this.#d.nodeName, session: 'Idle', message });
    }
    for (const name of new Set([...want.keys(), ...this.#written.keys()])) {
      const entry = want.get(name);
      const signature = entry ? JSON.stringify(entry) : '';
      if ((this.#written.get(name) ?? '') === signature) continue;
      try {
        await this.#d.status.write(name, entry);
        if (entry) this.#written.set(name, signature);
        else this.#written.delete(name);
      } catch (err) {
        // A BGPPeer deleted meanwhile has no status to write; anything else is tried again next period.
        if ((err as { code?: number }).code === 404) this.#written.delete(name);
        else this.#d.logger.warn({ err, peer: name }, 'BGPPeer status not written');
      }
    }
    await this.#writeSummaries();
  }

  /**
   * One node writes every BGPPeer's summary: the first live node by name, so a dead node's stale entry is
   * judged by one that is alive. Two nodes that briefly both think they are first write the same thing.
   */
  async #writeSummaries(): Promise<void> {
    const live = [...this.#d.liveNodes()].sort();
    if (live[0] !== this.#d.nodeName) return;
    const alive = new Set(live);
    for (const p of this.#d.objects.statuses()) {
      // Highest index first, so removing one does not move the next.
      const gone = p.nodes.flatMap((e, i) => (alive.has(e.node) || this.#d.nodeExists(e.node) ? [] : [i])).reverse();
      for (const i of gone) {
        try {
          await this.#d.status.removeEntry(p.name, p.nodes[i]!.node, i);
          this.#d.logger.info({ peer: p.name, node: p.nodes[i]!.node }, 'BGPPeer entry of a node that is gone removed');
        } catch (err) {
          this.#d.logger.debug({ err, peer: p.name }, 'BGPPeer entry not removed (changed meanwhile)');
        }
      }
      const { established, condition } = summarizePeer(
        p.nodes.filter((_, i) => !gone.includes(i)),
        alive,
      );
      if (p.established === established && conditionUnchanged(p.conditions, condition)) continue;
      try {
        await this.#d.status.writeSummary(p.name, {
          established,
          conditions: setCondition(
            p.conditions?.filter((c) => c.type === condition.type),
            condition,
            new Date(),
          ),
        });
      } catch (err) {
        if ((err as { code?: number }).code !== 404)
          this.#d.logger.warn({ err, peer: p.name }, 'BGPPeer summary not written');
      }
    }
  }
}
