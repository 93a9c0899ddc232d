// Each speaker's published state (core/speaker/published.ts) lives in annotations of one Lease per node,
// "speaker-state-<node>" in the speaker namespace, beside the L2 membership Leases. It is written only when the
// state changed and at most once per `minIntervalMs`, so a burst of claim changes costs one write per node per
// interval and a steady state costs nothing, however many claims there are. Every speaker watches all of them;
// the speaker that writes a claim's status reads its peers' state from here.
import * as k8s from '@kubernetes/client-node';
import { decodePublished, encodePublished, samePublished, type PublishedState } from '../../core/speaker/published.ts';
import { isNotFound } from '../../kube/client.ts';
import { isConflictOrGone, readIfExists, updateWithRetry } from '../../kube/update.ts';
import { createInformer, type TypedInformer } from '../../kube/informer.ts';
import type { Logger } from '../../shared/logger.ts';

export const STATE_LEASE_LABEL = 'kube-lb.io/component';
export const STATE_LEASE_LABEL_VALUE = 'speaker-state';
export const STATE_ANNOTATIONS = {
  programmed: 'kube-lb.io/programmed',
  failing: 'kube-lb.io/failing-targets',
} as const;

export function stateLeaseName(nodeName: string): string {
  return `speaker-state-${nodeName}`;
}

export interface NodeStateOptions {
  readonly kubeConfig: k8s.KubeConfig;
  readonly namespace: string;
  readonly nodeName: string;
  readonly minIntervalMs: number;
  readonly logger: Logger;
  readonly now: () => number;
}

export class NodeStatePublisher {
  readonly #opts: NodeStateOptions;
  readonly #api: k8s.CoordinationV1Api;
  readonly #informer: TypedInformer<k8s.V1Lease>;
  readonly #listeners: (() => void)[] = [];
  #own: k8s.V1Lease | undefined;
  #written: PublishedState | undefined;
  #wanted: PublishedState | undefined;
  #lastWriteAt = Number.NEGATIVE_INFINITY;
  #timer: NodeJS.Timeout | undefined;
  #inflight: Promise<void> | undefined;
  #stopped = false;
  /** API writes made, for metrics and the benchmark. */
  writes = 0;

  constructor(opts: NodeStateOptions) {
    this.#opts = opts;
    this.#api = opts.kubeConfig.makeApiClient(k8s.CoordinationV1Api);
    const selector = `${STATE_LEASE_LABEL}=${STATE_LEASE_LABEL_VALUE}`;
    this.#informer = createInformer<k8s.V1Lease>({
      kubeConfig: opts.kubeConfig,
      path: `/apis/coordination.k8s.io/v1/namespaces/${opts.namespace}/leases`,
      list: () => this.#api.listNamespacedLease({ namespace: opts.namespace, labelSelector: selector }),
      labelSelector: selector,
      logger: opts.logger,
    });
  }

  async start(): Promise<void> {
    const own = stateLeaseName(this.#opts.nodeName);
    // Someone else changed or deleted our Lease: write it again (once the state is known).
    const check = (lease: k8s.V1Lease, deleted: boolean): void => {
      if (lease.metadata?.name !== own || !this.#written) return;
      const a = lease.metadata?.annotations ?? {};
      const enc = encodePublished(this.#written);
      if (
        deleted ||
        a[STATE_ANNOTATIONS.programmed] !== enc.programmed ||
        (a[STATE_ANNOTATIONS.failing] ?? '') !== enc.failing
      ) {
        if (deleted) this.#own = undefined;
        this.#written = undefined;
        this.#kick();
      }
    };
    this.#informer.on({
      onUpsert: (l) => {
        check(l, false);
        this.#emit();
      },
      onDelete: (l) => {
        check(l, true);
        this.#emit();
      },
    });
    await this.#informer.start();
    await this.#informer.synced;
  }

  onChange(fn: () => void): void {
    this.#listeners.push(fn);
  }

  /** The state to publish; written when it differs from the last write, no sooner than minIntervalMs after it. */
  publish(state: PublishedState): void {
    this.#wanted = state;
    this.#kick();
  }

  /** What each node published, by node name (self included once written). */
  peers(): Map<string, PublishedState | undefined> {
    const out = new Map<string, PublishedState | undefined>();
    for (const lease of this.#informer.list()) {
      const node = lease.spec?.holderIdentity;
      if (!node) continue;
      const a = lease.metadata?.annotations ?? {};
      out.set(node, decodePublished(a[STATE_ANNOTATIONS.programmed], a[STATE_ANNOTATIONS.failing]));
    }
    return out;
  }

  /** Stops writing and watching; with `release`, deletes the node's Lease (a graceful stop). */
  async stop(release = false): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#inflight;
    if (release) {
      try {
        await this.#api.deleteNamespacedLease({
          name: stateLeaseName(this.#opts.nodeName),
          namespace: this.#opts.namespace,
        });
      } catch (err) {
        if (!isNotFound(err)) this.#opts.logger.warn({ err }, 'could not delete the node state Lease');
      }
    }
    await this.#informer.stop();
  }

  #kick(): void {
    if (this.#stopped || this.#timer || this.#inflight) return;
    if (samePublished(this.#wanted, this.#written)) return;
    const wait = Math.max(0, this.#lastWriteAt + this.#opts.minIntervalMs - this.#opts.now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      const state = this.#wanted;
      if (!state || this.#stopped) return;
      this.#inflight = this.#write(state).finally(() => {
        this.#inflight = undefined;
        this.#kick();
      });
    }, wait);
  }

  async #write(state: PublishedState): Promise<void> {
    this.#lastWriteAt = this.#opts.now();
    const { namespace, nodeName } = this.#opts;
    const name = stateLeaseName(nodeName);
    const enc = encodePublished(state);
    const body = (base: k8s.V1Lease | undefined): k8s.V1Lease => ({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        ...(base?.metadata ?? {}),
        name,
        namespace,
        labels: { ...(base?.metadata?.labels ?? {}), [STATE_LEASE_LABEL]: STATE_LEASE_LABEL_VALUE },
        annotations: {
          ...(base?.metadata?.annotations ?? {}),
          [STATE_ANNOTATIONS.programmed]: enc.programmed,
          [STATE_ANNOTATIONS.failing]: enc.failing,
        },
      },
      spec: { holderIdentity: nodeName, renewTime: new k8s.V1MicroTime() },
    });
    try {
      await updateWithRetry<k8s.V1Lease | undefined>({
        attempts: 3,
        lastWritten: { object: this.#own },
        isStale: isConflictOrGone,
        read: async () => (this.#own = await readIfExists(() => this.#api.readNamespacedLease({ name, namespace }))),
        mutate: (base) => body(base),
        write: async (next, base) => {
          this.writes++;
          this.#own = base
            ? await this.#api.replaceNamespacedLease({ name, namespace, body: next })
            : await this.#api.createNamespacedLease({ namespace, body: next });
          return this.#own;
        },
      });
      this.#written = state;
    } catch (err) {
      // Retried by the next publish() or the speaker's periodic refresh; the write pace stays bounded.
      this.#opts.logger.warn({ err }, 'could not publish the node state');
    }
  }

  #emit(): void {
    for (const fn of this.#listeners) fn();
  }
}
