// The agent's heartbeat: a merge patch of its ConsumerCluster's status (lastHeartbeatTime, agentVersion, and the
// consumer cluster's Kubernetes version and whether it keeps ipMode once the agent knows them) every
// period, so LB-cluster operators see which tenants' agents are alive and on what. A merge patch touches only those
// fields, so it never conflicts with the allocator writing the same status. Failures are normal weather (the LB
// cluster may be unreachable): logged, counted, and retried sooner (1 s, doubling up to the period), which makes
// the heartbeat the agent's probe of the LB cluster: the first success after failures calls `onRecovered`, so
// work that was backing off is retried at once instead of at its next backoff step.
import * as k8s from '@kubernetes/client-node';
import { GROUP, VERSION, PLURALS } from '../api/v1alpha1.ts';
import { apiMessage } from '../kube/client.ts';
import type { Logger } from '../shared/logger.ts';
import { backoffDelay } from '../shared/backoff.ts';
import type { AgentMetrics } from './metrics.ts';
import type { ConsumerCapabilities } from '../core/agent/capabilities.ts';

export interface HeartbeatOptions {
  kubeConfig: k8s.KubeConfig;
  cluster: string;
  version: string;
  periodMs: number;
  metrics: AgentMetrics;
  logger: Logger;
  onRecovered?: () => void;
  /** What the agent found of its consumer cluster, reported with each beat once known. */
  consumer?: () => ConsumerCapabilities | undefined;
}

const FIRST_RETRY_MS = 1000;

export class Heartbeat {
  readonly #opts: HeartbeatOptions;
  #timer: NodeJS.Timeout | undefined;
  #api: k8s.CustomObjectsApi | undefined;
  #running = false;
  #failures = 0;

  constructor(opts: HeartbeatOptions) {
    this.#opts = opts;
  }

  start(): void {
    this.#api ??= this.#opts.kubeConfig.makeApiClient(k8s.CustomObjectsApi);
    this.#running = true;
    void this.#loop();
  }

  stop(): void {
    this.#running = false;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  async #loop(): Promise<void> {
    const ok = await this.beat();
    if (ok && this.#failures > 0) this.#opts.onRecovered?.();
    this.#failures = ok ? 0 : this.#failures + 1;
    if (!this.#running) return;
    // After a failure: 1 s doubling up to the period, with jitter (every consumer's agent fails together when the
    // LB cluster's apiserver restarts).
    const retry = {
      initialMs: Math.min(FIRST_RETRY_MS, this.#opts.periodMs),
      maxMs: this.#opts.periodMs,
      jitter: 'equal',
    } as const;
    const delay = ok ? this.#opts.periodMs : backoffDelay(retry, this.#failures);
    this.#timer = setTimeout(() => void this.#loop(), delay);
    this.#timer.unref();
  }

  async beat(): Promise<boolean> {
    const now = new Date();
    const found = this.#opts.consumer?.();
    const consumer = found ? { kubernetesVersion: found.version, ipModeProxy: found.ipMode } : {};
    try {
      await this.#api!.patchClusterCustomObjectStatus(
        {
          group: GROUP,
          version: VERSION,
          plural: PLURALS.ConsumerCluster,
          name: this.#opts.cluster,
          body: {
            status: {
              lastHeartbeatTime: now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
              agentVersion: this.#opts.version,
              ...consumer,
            },
          },
        },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      );
      this.#opts.metrics.heartbeat(true, now);
      return true;
    } catch (err) {
      this.#opts.metrics.heartbeat(false, now);
      this.#opts.logger.warn({ cluster: this.#opts.cluster, message: apiMessage(err) }, 'heartbeat failed');
      return false;
    }
  }
}
