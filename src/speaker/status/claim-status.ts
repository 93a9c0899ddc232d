// Writes the speakers' part of every claim's status (Programmed, Announced, BackendsHealthy, programmedNodes,
// announcedBy, backendHealth) from exactly one speaker per claim: the node that answers ARP for its VIP, or the
// rendezvous winner among live nodes when none does (core/l2/report.ts), so LB nodes never fight over a status
// and the write count does not grow with the number of nodes.
//
// Changes only mark claims dirty; a short debounce gathers a burst into one pass, a claim is written only when
// its status differs from the watched copy, at most once per `minIntervalMs` per claim, and `concurrency`
// writes run at a time. The L2 side reports its ownership decisions here (it is the L2 speaker's status sink).
import type { VIPClaim } from '../../api/v1alpha1.ts';
import { announcedStatus, reporterFor, type AnnouncedStatus } from '../../core/l2/report.ts';
import type { OwnershipDecision } from '../../core/l2/ownership.ts';
import { rendezvousOwner } from '../../core/l2/rendezvous.ts';
import { claimKey } from '../../core/speaker/claims.ts';
import {
  applyStatus,
  statusDiffers,
  wantedStatus,
  type StatusInput,
  type WantedStatus,
} from '../../core/speaker/status.ts';
import { isConflict } from '../../kube/client.ts';
import type { ResourceClient } from '../../kube/custom-objects.ts';
import type { Logger } from '../../shared/logger.ts';
import type { VipEntry } from '../l2/inputs.ts';

export interface ClaimStatusDeps {
  readonly client: Pick<ResourceClient<VIPClaim>, 'updateStatus' | 'replaceStatus'>;
  readonly self: string;
  /** The claims as watched. */
  readonly claims: () => readonly VIPClaim[];
  readonly claim: (namespace: string, name: string) => VIPClaim | undefined;
  /** Everything but `announced`, from the speaker's current state; undefined: nothing to say about this claim. */
  readonly input: (claim: VIPClaim, announced: AnnouncedStatus | undefined) => StatusInput | undefined;
  /** Live LB nodes as the L2 side sees them. */
  readonly live: () => readonly string[];
  readonly logger: Logger;
  readonly now: () => number;
  readonly minIntervalMs: number;
  readonly debounceMs: number;
  readonly concurrency: number;
}

interface L2View {
  readonly byVip: ReadonlyMap<string, { readonly announced: AnnouncedStatus; readonly reporter: string | undefined }>;
}

export class ClaimStatusWriter {
  readonly #d: ClaimStatusDeps;
  #l2: L2View = { byVip: new Map() };
  /** Until the L2 side reported once, this node does not know its peers: it would take itself for the only one. */
  #l2Reported = false;
  readonly #dirty = new Set<string>();
  #allDirty = false;
  readonly #lastWrite = new Map<string, number>();
  readonly #queue = new Map<string, { namespace: string; name: string }>();
  #debounce: NodeJS.Timeout | undefined;
  #retry: NodeJS.Timeout | undefined;
  #running = 0;
  #stopped = false;
  /** Status writes made (for metrics and the benchmark). */
  writes = 0;

  constructor(deps: ClaimStatusDeps) {
    this.#d = deps;
  }

  /** The L2 speaker's report after each of its reconciles. */
  report(decided: readonly { entry: VipEntry; decision: OwnershipDecision }[], live: readonly string[]): void {
    const byVip = new Map<string, { announced: AnnouncedStatus; reporter: string | undefined }>();
    for (const { entry, decision } of decided) {
      byVip.set(entry.vip, { announced: announcedStatus(decision, entry.pool), reporter: reporterFor(decision, live) });
    }
    this.#l2 = { byVip };
    this.#l2Reported = true;
    this.invalidate();
  }

  /** The ARP owner of each VIP by the L2 side's last decision (undefined: nobody answers). */
  owners(): Record<string, string | undefined> {
    return Object.fromEntries([...this.#l2.byVip].map(([vip, v]) => [vip, v.announced.announcedBy]));
  }

  /** Marks claims (all when no keys are given) for a fresh look. */
  invalidate(keys?: Iterable<string>): void {
    if (this.#stopped) return;
    if (keys === undefined) this.#allDirty = true;
    else for (const k of keys) this.#dirty.add(k);
    this.#debounce ??= setTimeout(() => {
      this.#debounce = undefined;
      this.#pass();
    }, this.#d.debounceMs);
  }

  stop(): void {
    this.#stopped = true;
    if (this.#debounce) clearTimeout(this.#debounce);
    if (this.#retry) clearTimeout(this.#retry);
    this.#queue.clear();
  }

  /** Which node writes this claim's status (undefined: no VIP, nobody). */
  reporterOf(claim: VIPClaim): string | undefined {
    const vip = claim.status?.vip;
    if (!vip) return undefined;
    return this.#l2.byVip.get(vip)?.reporter ?? rendezvousOwner(vip, this.#d.live());
  }

  #pass(): void {
    if (!this.#l2Reported) return; // report() invalidates everything once it comes
    const all = this.#allDirty;
    const candidates = all ? this.#d.claims() : [...this.#dirty].flatMap((k) => this.#byKey(k) ?? []);
    this.#allDirty = false;
    this.#dirty.clear();
    if (all) {
      const present = new Set(candidates.map(claimKey));
      for (const k of this.#lastWrite.keys()) if (!present.has(k)) this.#lastWrite.delete(k);
    }
    for (const c of candidates) {
      if (this.reporterOf(c) !== this.#d.self) continue;
      const want = this.#want(c);
      if (want && statusDiffers(c.status, want)) {
        this.#queue.set(claimKey(c), { namespace: c.metadata.namespace ?? '', name: c.metadata.name ?? '' });
      }
    }
    this.#drain();
  }

  #byKey(key: string): VIPClaim | undefined {
    const slash = key.indexOf('/');
    return this.#d.claim(key.slice(0, slash), key.slice(slash + 1));
  }

  #want(c: VIPClaim): WantedStatus | undefined {
    const vip = c.status?.vip;
    const input = this.#d.input(c, vip ? this.#l2.byVip.get(vip)?.announced : undefined);
    return input ? wantedStatus(input) : undefined;
  }

  #drain(): void {
    if (this.#stopped) return;
    const now = this.#d.now();
    let soonest = Number.POSITIVE_INFINITY;
    for (const [key, ref] of this.#queue) {
      if (this.#running >= this.#d.concurrency) break;
      const readyAt = (this.#lastWrite.get(key) ?? Number.NEGATIVE_INFINITY) + this.#d.minIntervalMs;
      if (readyAt > now) {
        soonest = Math.min(soonest, readyAt);
        continue;
      }
      this.#queue.delete(key);
      this.#running++;
      this.#lastWrite.set(key, now);
      void this.#write(ref.namespace, ref.name).finally(() => {
        this.#running--;
        this.#drain();
      });
    }
    if (Number.isFinite(soonest) && !this.#retry) {
      this.#retry = setTimeout(
        () => {
          this.#retry = undefined;
          this.#drain();
        },
        Math.max(1, soonest - now),
      );
    }
  }

  async #write(namespace: string, name: string): Promise<void> {
    const mutate = (cur: VIPClaim): VIPClaim | undefined => {
      // Decided again on the copy at hand: another speaker may have become the reporter, or nothing differs now.
      if (this.reporterOf(cur) !== this.#d.self) return undefined;
      const want = this.#want(cur);
      if (!want || !statusDiffers(cur.status, want)) return undefined;
      return applyStatus(cur, want, new Date());
    };
    try {
      // One request in the usual case: write over the watched copy; read again only when it was stale.
      const cached = this.#d.claim(namespace, name);
      const next = cached && mutate(cached);
      if (!next) return;
      try {
        await this.#d.client.replaceStatus(next);
        this.writes++;
        return;
      } catch (err) {
        if (!isConflict(err)) throw err;
      }
      const res = await this.#d.client.updateStatus(name, namespace, mutate);
      if (res.written) this.writes++;
    } catch (err) {
      // The next change or the periodic refresh looks at the claim again.
      this.#d.logger.warn({ err, claim: `${namespace}/${name}` }, 'could not write claim status');
    }
  }
}
