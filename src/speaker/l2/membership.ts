// One Lease per LB node (coordination.k8s.io/v1, in the speaker's namespace): the node renews it every renew
// period and watches everyone's. The API load grows with the number of nodes, never with the number of VIPs.
// Besides liveness, the Lease carries what peers need to agree on ownership without talking to each other:
//   kube-lb.io/l2-interfaces          usable interfaces an announcement could pick on this node ("eth0,eth1")
//   kube-lb.io/l2-default-interface   the node's default-route interface
//   kube-lb.io/l2-peer                host:port of the node's heartbeat socket (when probes are on)
//   kube-lb.io/l2-macs                MACs of those interfaces: a duplicate-address probe that hears one of them
//                                     heard a kube-lb node, not a foreign host
//   kube-lb.io/l2-leaving             "true" while the node hands its VIPs over before stopping
// Renewals write only the node's own Lease; every change of what it advertises is written at once.
import * as k8s from '@kubernetes/client-node';
import { isNotFound, KubeApiError } from '../../kube/client.ts';
import { isConflictOrGone, readIfExists, updateWithRetry } from '../../kube/update.ts';
import { createInformer, type TypedInformer } from '../../kube/informer.ts';
import type { Logger } from '../../shared/logger.ts';

export const LEASE_LABEL = 'kube-lb.io/component';
export const LEASE_LABEL_VALUE = 'speaker-l2';
export const ANNOTATIONS = {
  interfaces: 'kube-lb.io/l2-interfaces',
  defaultInterface: 'kube-lb.io/l2-default-interface',
  peer: 'kube-lb.io/l2-peer',
  macs: 'kube-lb.io/l2-macs',
  leaving: 'kube-lb.io/l2-leaving',
} as const;

export interface Advertised {
  readonly interfaces: readonly string[];
  readonly defaultInterface?: string | undefined;
  readonly peer?: string | undefined;
  /** MACs of the advertised interfaces. */
  readonly macs?: readonly string[] | undefined;
  readonly leaving: boolean;
}

/** A peer as its Lease describes it, with the local time its renewal was last seen. */
export interface PeerRecord {
  readonly name: string;
  readonly durationMs: number;
  readonly leaving: boolean;
  readonly seenRenewedAt: number;
  readonly interfaces: readonly string[];
  readonly defaultInterface: string | undefined;
  readonly peer: string | undefined;
  /** MACs of its advertised interfaces (empty from a speaker that predates them). */
  readonly macs: readonly string[];
}

export interface MembershipOptions {
  readonly kubeConfig: k8s.KubeConfig;
  readonly namespace: string;
  readonly nodeName: string;
  readonly leaseDurationMs: number;
  readonly renewPeriodMs: number;
  readonly logger: Logger;
  /** Monotonic local clock in ms. */
  readonly now: () => number;
}

export function leaseName(nodeName: string): string {
  return `speaker-l2-${nodeName}`;
}

function advertisedAnnotations(a: Advertised): Record<string, string> {
  const out: Record<string, string> = { [ANNOTATIONS.interfaces]: a.interfaces.join(',') };
  if (a.defaultInterface) out[ANNOTATIONS.defaultInterface] = a.defaultInterface;
  if (a.peer) out[ANNOTATIONS.peer] = a.peer;
  if (a.macs?.length) out[ANNOTATIONS.macs] = a.macs.join(',');
  if (a.leaving) out[ANNOTATIONS.leaving] = 'true';
  return out;
}

export class LeaseMembership {
  readonly #opts: MembershipOptions;
  readonly #api: k8s.CoordinationV1Api;
  #informer: TypedInformer<k8s.V1Lease> | undefined;
  readonly #seen = new Map<string, { renewTime: string; at: number }>();
  readonly #fingerprints = new Map<string, string>();
  #advertised: Advertised = { interfaces: [], leaving: false };
  #own: k8s.V1Lease | undefined;
  #timer: NodeJS.Timeout | undefined;
  #inflight: Promise<void> | undefined;
  #dirty = false;
  #stopped = false;
  #freshSince = 0;
  #renewFailing = false;
  #wasFresh = false;
  readonly #listeners: (() => void)[] = [];
  /** API writes made (creates, replaces, deletes), for the benchmark and metrics. */
  writes = 0;

  constructor(opts: MembershipOptions) {
    this.#opts = opts;
    this.#api = opts.kubeConfig.makeApiClient(k8s.CoordinationV1Api);
  }

  onChange(fn: () => void): void {
    this.#listeners.push(fn);
  }

  /** Writes the first renewal and starts watching; resolves once the Leases have been listed. */
  async start(advertised: Advertised): Promise<void> {
    this.#advertised = advertised;
    const { kubeConfig, namespace, logger } = this.#opts;
    this.#informer = createInformer<k8s.V1Lease>({
      kubeConfig,
      path: `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`,
      list: () => this.#api.listNamespacedLease({ namespace, labelSelector: `${LEASE_LABEL}=${LEASE_LABEL_VALUE}` }),
      labelSelector: `${LEASE_LABEL}=${LEASE_LABEL_VALUE}`,
      logger,
    });
    this.#informer.on({ onUpsert: (l) => this.#observe(l), onDelete: (l) => this.#forget(l) });
    this.#schedule(0);
    await this.#informer.start();
    await this.#informer.synced;
  }

  /** Changes what the Lease advertises; written at once when different. */
  advertise(next: Advertised): void {
    const same =
      next.leaving === this.#advertised.leaving &&
      next.peer === this.#advertised.peer &&
      next.defaultInterface === this.#advertised.defaultInterface &&
      next.interfaces.join(',') === this.#advertised.interfaces.join(',') &&
      (next.macs ?? []).join(',') === (this.#advertised.macs ?? []).join(',');
    if (same) return;
    this.#advertised = next;
    this.#dirty = true;
    this.#schedule(0);
  }

  /**
   * Our view of the Leases is current: our own latest renewal came back through the watch recently. That proves
   * both directions (our writes land, the watch delivers) — a working renewal with a dead watch would otherwise
   * let every peer's Lease "expire" in our eyes. The window is shorter than a Lease duration by one renew period:
   * every peer renews at least once per period, so when the API goes away our view turns stale before any peer's
   * last seen renewal can expire, and the live set is frozen instead of emptied.
   */
  apiFresh(): boolean {
    const ownSeen = this.#seen.get(leaseName(this.#opts.nodeName))?.at ?? Number.NEGATIVE_INFINITY;
    const window = this.#opts.leaseDurationMs - this.#opts.renewPeriodMs * 1.25;
    // A failed renewal is immediate evidence (refused, reset, 5xx): no need to wait for the window to run out,
    // during which a peer that renewed a little late could "expire" in our eyes.
    const fresh = !this.#renewFailing && this.#opts.now() - ownSeen < window;
    if (fresh && !this.#wasFresh) this.#freshSince = this.#opts.now();
    this.#wasFresh = fresh;
    return fresh;
  }

  /** Local time at which the view last became fresh. */
  apiFreshSince(): number {
    return this.#freshSince;
  }

  peers(): PeerRecord[] {
    const out: PeerRecord[] = [];
    for (const lease of this.#informer?.list() ?? []) {
      const name = lease.spec?.holderIdentity;
      const key = lease.metadata?.name;
      if (!name || !key) continue;
      const a = lease.metadata?.annotations ?? {};
      out.push({
        name,
        durationMs: Math.max(1, lease.spec?.leaseDurationSeconds ?? 1) * 1000,
        leaving: a[ANNOTATIONS.leaving] === 'true',
        seenRenewedAt: this.#seen.get(key)?.at ?? this.#opts.now(),
        interfaces: (a[ANNOTATIONS.interfaces] ?? '').split(',').filter(Boolean),
        defaultInterface: a[ANNOTATIONS.defaultInterface] || undefined,
        peer: a[ANNOTATIONS.peer] || undefined,
        macs: (a[ANNOTATIONS.macs] ?? '').split(',').filter(Boolean),
      });
    }
    return out;
  }

  /** Stops renewing (waiting for a renewal in flight) and writes the Lease as leaving. */
  async markLeaving(): Promise<void> {
    this.#stopRenewing();
    await this.#inflight;
    this.#advertised = { ...this.#advertised, leaving: true };
    await this.#renew();
  }

  /** Deletes our Lease so peers drop us at once, and stops watching. */
  async release(): Promise<void> {
    this.#stopRenewing();
    await this.#inflight;
    try {
      await this.#api.deleteNamespacedLease({ name: leaseName(this.#opts.nodeName), namespace: this.#opts.namespace });
      this.writes++;
    } catch (err) {
      if (!isNotFound(err))
        this.#opts.logger.warn({ err }, 'could not delete own Lease; peers drop us when it expires');
    }
    await this.stop();
  }

  async stop(): Promise<void> {
    this.#stopRenewing();
    await this.#inflight;
    await this.#informer?.stop();
  }

  #stopRenewing(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#inflight) {
        this.#dirty = true;
        return;
      }
      this.#inflight = this.#renew().finally(() => {
        this.#inflight = undefined;
        this.#schedule(this.#dirty ? 0 : this.#opts.renewPeriodMs);
      });
    }, delayMs);
  }

  async #renew(): Promise<void> {
    this.#dirty = false;
    try {
      await this.#writeOwn();
      this.#renewFailing = false;
    } catch (err) {
      this.#renewFailing = true;
      this.#opts.logger.warn({ err }, 'Lease renewal failed; keeping the last known announcements');
    }
  }

  #desiredLease(base: k8s.V1Lease | undefined): k8s.V1Lease {
    const { namespace, nodeName, leaseDurationMs } = this.#opts;
    const now = new k8s.V1MicroTime();
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        ...(base?.metadata ?? {}),
        name: leaseName(nodeName),
        namespace,
        labels: { ...(base?.metadata?.labels ?? {}), [LEASE_LABEL]: LEASE_LABEL_VALUE },
        annotations: {
          ...Object.fromEntries(
            Object.entries(base?.metadata?.annotations ?? {}).filter(
              ([k]) => !Object.values(ANNOTATIONS).includes(k as never),
            ),
          ),
          ...advertisedAnnotations(this.#advertised),
        },
      },
      spec: {
        holderIdentity: nodeName,
        leaseDurationSeconds: Math.max(1, Math.ceil(leaseDurationMs / 1000)),
        acquireTime: base?.spec?.acquireTime ?? now,
        renewTime: now,
      },
    };
  }

  /** One write in the usual case: replace from the copy our last write returned; read again only on conflict. */
  async #writeOwn(): Promise<void> {
    const { namespace, nodeName } = this.#opts;
    const name = leaseName(nodeName);
    try {
      await updateWithRetry<k8s.V1Lease | undefined>({
        attempts: 3,
        lastWritten: { object: this.#own },
        isStale: isConflictOrGone,
        read: async () => (this.#own = await readIfExists(() => this.#api.readNamespacedLease({ name, namespace }))),
        mutate: (base) => this.#desiredLease(base),
        write: async (body, base) => {
          this.writes++;
          this.#own = base
            ? await this.#api.replaceNamespacedLease({ name, namespace, body })
            : await this.#api.createNamespacedLease({ namespace, body });
          return this.#own;
        },
      });
    } catch (err) {
      throw new KubeApiError('renewing', { kind: 'Lease', namespace, name }, err);
    }
  }

  /**
   * Renewals only move the time a Lease was seen renewed (the speaker's liveness tick reads it); listeners hear
   * about new, deleted and changed Leases (holder, duration, advertised interfaces, peer, leaving) — with many
   * VIPs a full reconcile on every renewal of every node would be most of the speaker's work.
   */
  #observe(lease: k8s.V1Lease): void {
    const key = lease.metadata?.name;
    if (!key) return;
    const renewTime = lease.spec?.renewTime ? new Date(lease.spec.renewTime).toISOString() : '';
    const prev = this.#seen.get(key);
    if (!prev || prev.renewTime !== renewTime) this.#seen.set(key, { renewTime, at: this.#opts.now() });
    const a = lease.metadata?.annotations ?? {};
    const fingerprint = JSON.stringify([
      lease.spec?.holderIdentity,
      lease.spec?.leaseDurationSeconds,
      ...Object.values(ANNOTATIONS).map((k) => a[k]),
    ]);
    if (this.#fingerprints.get(key) === fingerprint) return;
    this.#fingerprints.set(key, fingerprint);
    this.#emit();
  }

  #forget(lease: k8s.V1Lease): void {
    if (lease.metadata?.name) {
      this.#seen.delete(lease.metadata.name);
      this.#fingerprints.delete(lease.metadata.name);
    }
    this.#emit();
  }

  #emit(): void {
    for (const fn of this.#listeners) fn();
  }
}
