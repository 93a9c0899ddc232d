// Writes the Announced condition and status.announcedBy of the claims this node reports for. Writes happen only
// when the status differs from the watched copy, so a steady state costs no API writes however many VIPs there
// are; they run in the background and never delay announcing. A wanted status is written only once it has held
// for a settle period: a membership flap (a peer stalled past the heartbeat timeout, then renewed its Lease) moves
// ARP answers for a moment but costs no status writes.
import type { VIPClaim } from '../../api/v1alpha1.ts';
import { conditionUnchanged, setCondition } from '../../core/conditions.ts';
import type { OwnershipDecision } from '../../core/l2/ownership.ts';
import { announcedStatus, reporterFor, type AnnouncedStatus } from '../../core/l2/report.ts';
import { isConflict } from '../../kube/client.ts';
import { resourceClient, type ResourceClient } from '../../kube/custom-objects.ts';
import type * as k8s from '@kubernetes/client-node';
import type { Logger } from '../../shared/logger.ts';
import type { ClaimRef, L2Inputs, VipEntry } from './inputs.ts';

const CONCURRENCY = 2;

interface Job {
  readonly ref: ClaimRef;
  readonly want: AnnouncedStatus;
  /** The wanted status, serialized: a different one restarts the settle period. */
  readonly fp: string;
}

function needsWrite(claim: VIPClaim | undefined, want: AnnouncedStatus): boolean {
  if (!claim) return false;
  return (
    claim.status?.announcedBy !== want.announcedBy || !conditionUnchanged(claim.status?.conditions, want.condition)
  );
}

export class AnnouncedStatusWriter {
  readonly #client: Pick<ResourceClient<VIPClaim>, 'replaceStatus' | 'updateStatus'>;
  readonly #inputs: L2Inputs;
  readonly #self: string;
  readonly #logger: Logger;
  readonly #settleMs: number;
  readonly #now: () => number;
  /** Statuses wanted and not yet settled: claim → since when. */
  readonly #settling = new Map<string, Job & { since: number }>();
  readonly #pending = new Map<string, Job>();
  #settleTimer: NodeJS.Timeout | undefined;
  #running = 0;
  #stopped = false;
  /** Status writes made, for the benchmark and metrics. */
  writes = 0;

  constructor(opts: {
    kubeConfig: k8s.KubeConfig;
    inputs: L2Inputs;
    self: string;
    logger: Logger;
    settleMs: number;
    now: () => number;
    /** For tests: the claims API. */
    client?: Pick<ResourceClient<VIPClaim>, 'replaceStatus' | 'updateStatus'>;
  }) {
    this.#client = opts.client ?? resourceClient<VIPClaim>(opts.kubeConfig, 'VIPClaim');
    this.#inputs = opts.inputs;
    this.#self = opts.self;
    this.#logger = opts.logger;
    this.#settleMs = opts.settleMs;
    this.#now = opts.now;
  }

  report(decided: readonly { entry: VipEntry; decision: OwnershipDecision }[], live: readonly string[]): void {
    if (this.#stopped) return;
    const now = this.#now();
    const wanted = new Set<string>();
    for (const { entry, decision } of decided) {
      if (reporterFor(decision, live) !== this.#self) continue;
      const want = announcedStatus(decision, entry.pool);
      const fp = JSON.stringify(want);
      for (const ref of entry.claims) {
        if (!needsWrite(this.#inputs.claim(ref), want)) continue;
        const key = `${ref.namespace}/${ref.name}`;
        wanted.add(key);
        if (this.#pending.get(key)?.fp === fp) continue;
        this.#pending.delete(key);
        if (this.#settling.get(key)?.fp !== fp) this.#settling.set(key, { ref, want, fp, since: now });
      }
    }
    for (const key of this.#settling.keys()) if (!wanted.has(key)) this.#settling.delete(key);
    for (const key of this.#pending.keys()) if (!wanted.has(key)) this.#pending.delete(key);
    this.#promote();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#settleTimer) clearTimeout(this.#settleTimer);
    this.#settling.clear();
    this.#pending.clear();
  }

  /** Moves statuses that held for the settle period to the write queue; wakes up for the next one. */
  #promote(): void {
    const now = this.#now();
    let next = Number.POSITIVE_INFINITY;
    for (const [key, job] of this.#settling) {
      if (now - job.since >= this.#settleMs) {
        this.#settling.delete(key);
        this.#pending.set(key, job);
      } else {
        next = Math.min(next, job.since + this.#settleMs);
      }
    }
    if (next !== Number.POSITIVE_INFINITY && !this.#settleTimer && !this.#stopped) {
      this.#settleTimer = setTimeout(
        () => {
          this.#settleTimer = undefined;
          this.#promote();
        },
        Math.max(1, next - now),
      );
      this.#settleTimer.unref();
    }
    this.#drain();
  }

  #drain(): void {
    while (this.#running < CONCURRENCY && this.#pending.size > 0 && !this.#stopped) {
      const [key, job] = this.#pending.entries().next().value!;
      this.#pending.delete(key);
      this.#running++;
      void this.#write(job.ref, job.want).finally(() => {
        this.#running--;
        this.#drain();
      });
    }
  }

  async #write(ref: ClaimRef, want: AnnouncedStatus): Promise<void> {
    const apply = (cur: VIPClaim): VIPClaim | undefined => {
      if (!needsWrite(cur, want)) return undefined;
      const status = {
        ...(cur.status ?? {}),
        conditions: setCondition(cur.status?.conditions, want.condition, new Date()),
      };
      if (want.announcedBy) status.announcedBy = want.announcedBy;
      else delete status.announcedBy;
      return { ...cur, status };
    };
    try {
      // One request in the usual case: write over the watched copy; read again only when it turns out stale.
      const cached = this.#inputs.claim(ref);
      const next = cached && apply(cached);
      if (next) {
        try {
          await this.#client.replaceStatus(next);
          this.writes++;
          return;
        } catch (err) {
          if (!isConflict(err)) throw err;
        }
      }
      const res = await this.#client.updateStatus(ref.name, ref.namespace, apply);
      if (res.written) this.writes++;
    } catch (err) {
      // The next reconcile (or resync) sees the status still differs and tries again.
      this.#logger.warn({ err, claim: `${ref.namespace}/${ref.name}` }, 'could not write Announced status');
    }
  }
}
