// The speaker's loop between its inputs and its outputs:
//   claims (ClusterView) + this node's health view ─plan─▶ desired frontends ─▶ dataplane reconciler
//                                                    └──▶ health-check targets ─▶ HealthChecker
//   each dataplane pass ─▶ what is programmed ─▶ published node state (Lease) + claim status
// Re-planning is coalesced (one plan per turn of the event loop however many events arrived); planning is
// pure and cheap, the reconciler diffs against the maps so an unchanged plan writes nothing.
import type { VIPClaim } from '../api/v1alpha1.ts';
import type { DesiredFrontend } from '../core/dataplane/frontend.ts';
import type { FrontendStatus } from '../core/dataplane/planner.ts';
import type { AnnouncedStatus } from '../core/l2/report.ts';
import { claimKey } from '../core/speaker/claims.ts';
import type { BackendGuard } from '../core/speaker/backend-guard.ts';
import {
  planFrontends,
  plannedTargets,
  type ClaimPlan,
  type SelectionMemory,
  type SpeakerPlan,
} from '../core/speaker/plan.ts';
import { bucketDigests, publishedState, type PublishedState } from '../core/speaker/published.ts';
import type { StatusInput } from '../core/speaker/status.ts';
import type { Logger } from '../shared/logger.ts';
import type { HealthChecker, TargetReport } from './health/checker.ts';

/** What the controller needs of the dataplane reconciler (src/speaker/dataplane/reconciler.ts). */
export interface DataplaneSink {
  setDesired(desired: readonly DesiredFrontend[]): void;
  statuses(): readonly FrontendStatus[];
  /** `unavailable`: the pass failed, but statuses() are current (maps replaced, every frontend unavailable). */
  onPass(listener: (result: { readonly error: Error | undefined; readonly unavailable: boolean }) => void): () => void;
}

export interface ControllerDeps {
  readonly nodeName: string;
  readonly claims: () => readonly VIPClaim[];
  /** The check of every claim's tenant and backends before programming (backend-guard.ts); unset: none. */
  readonly guard?: (() => BackendGuard) | undefined;
  readonly dataplane: DataplaneSink;
  readonly health: HealthChecker;
  /** Publishes this node's state (rate-limited by the publisher). */
  readonly publish: (state: PublishedState) => void;
  /** What every node published. */
  readonly peers: () => ReadonlyMap<string, PublishedState | undefined>;
  readonly live: () => readonly string[];
  /** Claims whose status may need a fresh look (all when undefined). */
  readonly invalidateStatus: (keys?: Iterable<string>) => void;
  readonly logger: Logger;
  /** Monotonic clock (ms). */
  readonly now: () => number;
  /**
   * How long a peer's bucket may differ from the expected digest before it counts against the claims of that
   * bucket (peers publish at a bounded pace, so they lag behind every change for a moment).
   */
  readonly settleMs: number;
}

/** Frontend states that every node reaches alike (the input is invalid or unsupported), not local trouble. */
const DETERMINISTIC: ReadonlySet<string> = new Set(['rejected', 'unsupported']);

export interface ClaimProgramming {
  /** Fingerprint programmed, when every frontend of the claim is in the maps. */
  readonly fingerprint: string | undefined;
  /** Why not, from the dataplane. */
  readonly problem: string | undefined;
  /** The stable reason of the problem when it has one (a node-wide refusal: CiliumDSRMode, ...). */
  readonly code?: string | undefined;
  readonly deterministic: boolean;
}

export class SpeakerController {
  readonly #d: ControllerDeps;
  #plan: SpeakerPlan = { frontends: [], owners: new Map(), claims: new Map(), memory: new Map() };
  #memory: SelectionMemory = new Map();
  /** The plan the reconciler holds (set with setDesired, synchronously). */
  #programming = new Map<string, ClaimProgramming>();
  #expectedBuckets: string[] = bucketDigests(new Map());
  #published: PublishedState | undefined;
  #publishedSignature = '';
  /** This node's failing targets, kept between health transitions (every status computation reads it). */
  #failing: ReadonlySet<string> | undefined;
  #expectedSignature: string | undefined;
  #scheduled: NodeJS.Immediate | undefined;
  /** "peer/bucket" → when its digest started to differ from the expected one. */
  readonly #mismatchSince = new Map<string, number>();
  #settleTimer: NodeJS.Timeout | undefined;
  #unsubscribe: (() => void) | undefined;
  #stopped = false;
  plans = 0;

  constructor(deps: ControllerDeps) {
    this.#d = deps;
  }

  start(): void {
    this.#unsubscribe = this.#d.dataplane.onPass((r) => {
      if (!r.error || r.unavailable) this.#afterPass();
    });
    this.#d.health.onTransition(() => {
      this.#failing = undefined;
      this.schedule();
      this.#publish();
    });
    // Synchronously, so the reconciler holds the first plan before its first pass.
    this.#replan();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#scheduled) clearImmediate(this.#scheduled);
    if (this.#settleTimer) clearTimeout(this.#settleTimer);
    this.#unsubscribe?.();
  }

  /** Re-plan soon (coalesced). */
  schedule(): void {
    if (this.#stopped) return;
    this.#scheduled ??= setImmediate(() => {
      this.#scheduled = undefined;
      this.#replan();
    });
  }

  plan(): SpeakerPlan {
    return this.#plan;
  }

  programming(): ReadonlyMap<string, ClaimProgramming> {
    return this.#programming;
  }

  /** Everything the status writer needs for one claim, from the current state; undefined if not planned yet. */
  statusInput(claim: VIPClaim, announced: AnnouncedStatus | undefined): StatusInput | undefined {
    const key = claimKey(claim);
    const plan = this.#plan.claims.get(key);
    if (!plan) return undefined;
    const prog = this.#programming.get(key);
    const programmedNow = plan.serve && prog?.fingerprint !== undefined && prog.fingerprint === plan.fingerprint;
    const peers = this.#d.peers();
    return {
      claim,
      plan,
      expectedBuckets: this.#expectedBuckets,
      self: this.#d.nodeName,
      selfProgrammed: programmedNow
        ? { ok: true }
        : { ok: false, reason: prog?.problem ?? 'not programmed yet', ...(prog?.code ? { code: prog.code } : {}) },
      selfFailing: (this.#failing ??= new Set(this.#d.health.failing())),
      live: this.#d.live(),
      peers: new Map([...peers].map(([n, state]) => [n, { state }])),
      settling: this.#settling(peers),
      announced,
    };
  }

  /** Per peer, the buckets whose mismatch is younger than settleMs; arms a re-check for when they expire. */
  #settling(peers: ReadonlyMap<string, PublishedState | undefined>): Map<string, Set<number>> {
    const now = this.#d.now();
    const seen = new Set<string>();
    const out = new Map<string, Set<number>>();
    let nextExpiry = Number.POSITIVE_INFINITY;
    for (const [node, state] of peers) {
      if (node === this.#d.nodeName || !state) continue;
      state.buckets.forEach((digest, bucket) => {
        if (digest === this.#expectedBuckets[bucket]) return;
        const k = `${node}/${bucket}`;
        seen.add(k);
        const since = this.#mismatchSince.get(k) ?? now;
        this.#mismatchSince.set(k, since);
        if (now - since < this.#d.settleMs) {
          const set = out.get(node) ?? new Set<number>();
          set.add(bucket);
          out.set(node, set);
          nextExpiry = Math.min(nextExpiry, since + this.#d.settleMs);
        }
      });
    }
    for (const k of this.#mismatchSince.keys()) if (!seen.has(k)) this.#mismatchSince.delete(k);
    if (Number.isFinite(nextExpiry) && !this.#settleTimer && !this.#stopped) {
      this.#settleTimer = setTimeout(
        () => {
          this.#settleTimer = undefined;
          this.#d.invalidateStatus();
        },
        Math.max(10, nextExpiry - now + 10),
      );
    }
    return out;
  }

  #replan(): void {
    const { health, dataplane, logger } = this.#d;
    const plan = planFrontends(this.#d.claims(), (k) => health.state(k), this.#memory, this.#d.guard?.());
    this.#memory = plan.memory;
    this.#plan = plan;
    this.plans++;
    dataplane.setDesired(plan.frontends);
    health.setTargets(plannedTargets(plan));
    this.#failing = undefined;
    logger.debug({ frontends: plan.frontends.length, claims: plan.claims.size }, 'planned');
    this.#d.invalidateStatus();
  }

  /**
   * After a successful pass the reconciler's statuses describe the plan it holds, which is #plan; after a failed
   * one they do only when the maps were replaced (every frontend 'unavailable' then).
   */
  #afterPass(): void {
    const byClaim = new Map<string, FrontendStatus[]>();
    for (const s of this.#d.dataplane.statuses()) {
      if (s.origin === undefined) continue;
      const list = byClaim.get(s.origin) ?? [];
      list.push(s);
      byClaim.set(s.origin, list);
    }
    const next = new Map<string, ClaimProgramming>();
    const expected = new Map<string, string>();
    for (const c of this.#plan.claims.values()) {
      if (!c.serve) continue;
      next.set(c.key, programmingOf(c, byClaim.get(c.key) ?? []));
      const p = next.get(c.key)!;
      if (!(p.fingerprint === undefined && p.deterministic)) expected.set(c.key, c.fingerprint);
    }
    const changed = [...new Set([...next.keys(), ...this.#programming.keys()])].filter(
      (k) =>
        next.get(k)?.fingerprint !== this.#programming.get(k)?.fingerprint ||
        next.get(k)?.problem !== this.#programming.get(k)?.problem,
    );
    this.#programming = next;
    // Passes run every reconcile period; hashing is only redone when what is expected or held changed.
    const expectedSignature = [...expected.values()].join('\n');
    if (expectedSignature !== this.#expectedSignature) {
      this.#expectedSignature = expectedSignature;
      this.#expectedBuckets = bucketDigests(expected);
    }
    if (changed.length > 0 || this.#published === undefined) this.#publish();
    if (changed.length > 0) this.#d.invalidateStatus(changed);
  }

  #publish(): void {
    const programmed = new Map<string, string>();
    for (const [key, p] of this.#programming) if (p.fingerprint) programmed.set(key, p.fingerprint);
    const failing = this.#d.health.failing();
    const signature = `${[...programmed.values()].join('\n')}\n--\n${failing.join('\n')}`;
    if (this.#published && signature === this.#publishedSignature) return;
    this.#publishedSignature = signature;
    this.#published = publishedState(programmed, failing);
    this.#d.publish(this.#published);
  }

  /** The node state for /state and the CLI. */
  snapshot(extra: { health: readonly TargetReport[] }): Record<string, unknown> {
    return {
      node: this.#d.nodeName,
      live: this.#d.live(),
      published: this.#published,
      claims: [...this.#plan.claims.values()].map((c) => describeClaim(c, this.#programming.get(c.key))),
      health: extra.health,
    };
  }
}

function programmingOf(c: Extract<ClaimPlan, { serve: true }>, statuses: readonly FrontendStatus[]): ClaimProgramming {
  const names = new Set(c.ports.map((p) => p.frontend));
  const mine = statuses.filter((s) => names.has(s.name));
  const bad = mine.filter((s) => s.state !== 'programmed');
  if (mine.length === names.size && bad.length === 0)
    return { fingerprint: c.fingerprint, problem: undefined, deterministic: false };
  // A node-wide refusal or replaced maps say the same for every frontend: once is enough, under its stable reason.
  const code = bad.find((s) => s.code !== undefined)?.code;
  const refusal = bad.find((s) => s.state === 'refused' || s.state === 'unavailable');
  const problem = refusal
    ? refusal.reason
    : bad.length > 0
      ? bad.map((s) => `${s.name}: ${s.state} (${s.reason})`).join('; ')
      : 'not programmed yet';
  return { fingerprint: undefined, problem, code, deterministic: bad.some((s) => DETERMINISTIC.has(s.state)) };
}

function describeClaim(c: ClaimPlan, p: ClaimProgramming | undefined): Record<string, unknown> {
  if (!c.serve) return { claim: c.key, vip: c.vip, served: false, reason: c.reason, message: c.message };
  return {
    claim: c.key,
    vip: c.vip,
    served: true,
    programmed: p?.fingerprint === c.fingerprint,
    ...(p?.problem ? { problem: p.problem } : {}),
    ports: c.ports.map((port) => ({
      frontend: port.frontend,
      nodePort: port.port.nodePort,
      selection: port.selection,
      backends: port.backends.map((b) => ({
        node: b.nodeName,
        address: b.address,
        ready: b.ready,
        health: b.health,
        selected: b.selected,
        ...(b.refused ? { refused: b.refused } : {}),
      })),
    })),
  };
}
