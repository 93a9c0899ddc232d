// Lease-based leader election (coordination.k8s.io/v1), with client-go's semantics: a candidate takes the Lease
// only after it has watched the holder's record stay unchanged for the lease duration (measured on its own
// clock, so clock skew between nodes does not matter); a leader that cannot renew within the renew deadline
// steps down before anyone else may take over; a leader that stops releases the Lease so a peer takes over
// at its next retry instead of waiting for expiry.
import * as k8s from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { isConflict, isNotFound } from './client.ts';
import type { Logger } from '../shared/logger.ts';

export interface LeaderElectionOptions {
  kubeConfig: k8s.KubeConfig;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  logger: Logger;
  /** Called when this candidate becomes leader; `signal` aborts when it stops leading. */
  onStartedLeading(signal: AbortSignal): void | Promise<void>;
  onStoppedLeading?(): void | Promise<void>;
  onNewLeader?(identity: string): void;
}

interface Observed {
  holder: string;
  renewTime: string;
  durationMs: number;
  at: number;
}

export class LeaderElector {
  readonly #opts: Required<Omit<LeaderElectionOptions, 'onStoppedLeading' | 'onNewLeader'>> &
    Pick<LeaderElectionOptions, 'onStoppedLeading' | 'onNewLeader'>;
  readonly #api: k8s.CoordinationV1Api;
  #observed: Observed | undefined;
  #leading: AbortController | undefined;
  #stopping = false;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;

  constructor(opts: LeaderElectionOptions) {
    this.#opts = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, ...opts };
    this.#api = opts.kubeConfig.makeApiClient(k8s.CoordinationV1Api);
  }

  get isLeader(): boolean {
    return this.#leading !== undefined;
  }

  get leader(): string | undefined {
    return this.#observed?.holder || undefined;
  }

  /** Starts campaigning in the background. */
  start(): void {
    this.#loop ??= this.#run();
  }

  /** Stops campaigning; a leader steps down and releases the Lease. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#wake?.();
    await this.#loop;
    if (this.#leading) await this.#stepDown(true);
  }

  async #run(): Promise<void> {
    let lastRenew = 0;
    while (!this.#stopping) {
      let ok = false;
      try {
        ok = await this.#tryAcquireOrRenew();
      } catch (err) {
        this.#opts.logger.warn({ err, lease: this.#opts.name }, 'leader election: lease update failed');
      }
      const now = Date.now();
      if (ok) {
        lastRenew = now;
        if (!this.#leading) {
          this.#leading = new AbortController();
          this.#opts.logger.info({ lease: this.#opts.name, identity: this.#opts.identity }, 'started leading');
          void Promise.resolve(this.#opts.onStartedLeading(this.#leading.signal)).catch((err: unknown) =>
            this.#opts.logger.error({ err }, 'onStartedLeading failed'),
          );
        }
      } else if (this.#leading && now - lastRenew > this.#opts.renewDeadlineMs) {
        await this.#stepDown(false);
      }
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        sleep(this.#opts.retryPeriodMs * (0.9 + Math.random() * 0.2)).then(() => resolve());
      });
    }
  }

  async #stepDown(release: boolean): Promise<void> {
    const ctl = this.#leading;
    this.#leading = undefined;
    ctl?.abort();
    this.#opts.logger.info({ lease: this.#opts.name, identity: this.#opts.identity, release }, 'stopped leading');
    if (release) {
      try {
        await this.#release();
      } catch (err) {
        this.#opts.logger.warn({ err }, 'leader election: release failed; peers take over at expiry');
      }
    }
    await this.#opts.onStoppedLeading?.();
  }

  async #release(): Promise<void> {
    const lease = await this.#api.readNamespacedLease({ name: this.#opts.name, namespace: this.#opts.namespace });
    if (lease.spec?.holderIdentity !== this.#opts.identity) return;
    lease.spec = { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: new k8s.V1MicroTime() };
    await this.#api.replaceNamespacedLease({ name: this.#opts.name, namespace: this.#opts.namespace, body: lease });
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const { name, namespace, identity } = this.#opts;
    const durationSeconds = Math.max(1, Math.ceil(this.#opts.leaseDurationMs / 1000));
    const now = new k8s.V1MicroTime();
    let lease: k8s.V1Lease;
    try {
      lease = await this.#api.readNamespacedLease({ name, namespace });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      try {
        await this.#api.createNamespacedLease({
          namespace,
          body: {
            metadata: { name, namespace },
            spec: {
              holderIdentity: identity,
              leaseDurationSeconds: durationSeconds,
              acquireTime: now,
              renewTime: now,
              leaseTransitions: 0,
            },
          },
        });
        this.#observe(identity, now.toISOString(), durationSeconds * 1000);
        return true;
      } catch (e) {
        if (isConflict(e)) return false;
        throw e;
      }
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const recordDurationMs = Math.max(1000, (spec.leaseDurationSeconds ?? durationSeconds) * 1000);
    this.#observe(holder, spec.renewTime ? new Date(spec.renewTime).toISOString() : '', recordDurationMs);
    const expired = holder === '' || Date.now() > this.#observed!.at + this.#observed!.durationMs;
    if (holder !== identity && !expired) return false;

    const next: k8s.V1Lease = {
      ...lease,
      spec: {
        ...spec,
        holderIdentity: identity,
        leaseDurationSeconds: durationSeconds,
        renewTime: now,
        ...(holder === identity
          ? {}
          : {
              acquireTime: now,
              leaseTransitions: (spec.leaseTransitions ?? 0) + (holder === '' && !spec.acquireTime ? 0 : 1),
            }),
      },
    };
    try {
      await this.#api.replaceNamespacedLease({ name, namespace, body: next });
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
    this.#observe(identity, now.toISOString(), durationSeconds * 1000);
    return true;
  }

  /** Remembers when the record last changed, on our clock: expiry is judged from that, not from renewTime. */
  #observe(holder: string, renewTime: string, durationMs: number): void {
    const prev = this.#observed;
    if (!prev || prev.holder !== holder || prev.renewTime !== renewTime) {
      this.#observed = { holder, renewTime, durationMs, at: Date.now() };
      if (prev?.holder !== holder && holder) this.#opts.onNewLeader?.(holder);
    }
  }
}
