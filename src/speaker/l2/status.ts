// Writes the Announced condition and status.announcedBy of the claims this node reports for. Writes happen only
// when the status differs from the watched copy, so a steady state costs no API writes however many VIPs there
// are; they run in the background and never delay announcing.
import type { VIPClaim } from '../../api/v1alpha1.ts';
import { conditionUnchanged, setCondition } from '../../core/conditions.ts';
import type { OwnershipDecision } from '../../core/l2/ownership.ts';
import { announcedStatus, reporterFor, type AnnouncedStatus } from '../../core/l2/report.ts';
import { resourceClient, type ResourceClient } from '../../kube/custom-objects.ts';
import type * as k8s from '@kubernetes/client-node';
import type { Logger } from '../../shared/logger.ts';
import type { ClaimRef, L2Inputs, VipEntry } from './inputs.ts';

const CONCURRENCY = 2;

function needsWrite(claim: VIPClaim | undefined, want: AnnouncedStatus): boolean {
  if (!claim) return false;
  return claim.status?.announcedBy !== want.announcedBy || !conditionUnchanged(claim.status?.conditions, want.condition);
}

export class AnnouncedStatusWriter {
  private readonly client: ResourceClient<VIPClaim>;
  private readonly inputs: L2Inputs;
  private readonly self: string;
  private readonly logger: Logger;
  private readonly pending = new Map<string, { ref: ClaimRef; want: AnnouncedStatus }>();
  private running = 0;
  private stopped = false;
  /** Status writes made, for the benchmark and metrics. */
  writes = 0;

  constructor(opts: { kubeConfig: k8s.KubeConfig; inputs: L2Inputs; self: string; logger: Logger }) {
    this.client = resourceClient<VIPClaim>(opts.kubeConfig, 'VIPClaim');
    this.inputs = opts.inputs;
    this.self = opts.self;
    this.logger = opts.logger;
  }

  report(decided: readonly { entry: VipEntry; decision: OwnershipDecision }[], live: readonly string[]): void {
    if (this.stopped) return;
    for (const { entry, decision } of decided) {
      if (reporterFor(decision, live) !== this.self) continue;
      const want = announcedStatus(decision, entry.pool);
      for (const ref of entry.claims) {
        if (needsWrite(this.inputs.claim(ref), want)) this.pending.set(`${ref.namespace}/${ref.name}`, { ref, want });
      }
    }
    this.drain();
  }

  stop(): void {
    this.stopped = true;
    this.pending.clear();
  }

  private drain(): void {
    while (this.running < CONCURRENCY && this.pending.size > 0 && !this.stopped) {
      const [key, job] = this.pending.entries().next().value!;
      this.pending.delete(key);
      this.running++;
      void this.write(job.ref, job.want).finally(() => {
        this.running--;
        this.drain();
      });
    }
  }

  private async write(ref: ClaimRef, want: AnnouncedStatus): Promise<void> {
    try {
      const res = await this.client.updateStatus(ref.name, ref.namespace, (cur) => {
        if (!needsWrite(cur, want)) return undefined;
        const status = { ...(cur.status ?? {}), conditions: setCondition(cur.status?.conditions, want.condition, new Date()) };
        if (want.announcedBy) status.announcedBy = want.announcedBy;
        else delete status.announcedBy;
        return { ...cur, status };
      });
      if (res.written) this.writes++;
    } catch (err) {
      // The next reconcile (or resync) sees the status still differs and tries again.
      this.logger.warn({ err, claim: `${ref.namespace}/${ref.name}` }, 'could not write Announced status');
    }
  }
}
