// The agent's heartbeat: a merge patch of its ConsumerCluster's status (lastHeartbeatTime, agentVersion) every
// period, so LB-cluster operators see which tenants' agents are alive. A merge patch touches only those two
// fields, so it never conflicts with the allocator writing the same status. Failures are normal weather (the LB
// cluster may be unreachable): logged, counted, tried again next period.
import * as k8s from '@kubernetes/client-node';
import { GROUP, VERSION, PLURALS } from '../api/v1alpha1.ts';
import { apiMessage } from '../kube/client.ts';
import type { Logger } from '../shared/logger.ts';
import type { AgentMetrics } from './metrics.ts';

export interface HeartbeatOptions {
  kubeConfig: k8s.KubeConfig;
  cluster: string;
  version: string;
  periodMs: number;
  metrics: AgentMetrics;
  logger: Logger;
}

export class Heartbeat {
  private readonly opts: HeartbeatOptions;
  private timer: NodeJS.Timeout | undefined;
  private api: k8s.CustomObjectsApi | undefined;

  constructor(opts: HeartbeatOptions) {
    this.opts = opts;
  }

  start(): void {
    this.api ??= this.opts.kubeConfig.makeApiClient(k8s.CustomObjectsApi);
    void this.beat();
    this.timer = setInterval(() => void this.beat(), this.opts.periodMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  async beat(): Promise<boolean> {
    const now = new Date();
    try {
      await this.api!.patchClusterCustomObjectStatus(
        {
          group: GROUP,
          version: VERSION,
          plural: PLURALS.ConsumerCluster,
          name: this.opts.cluster,
          body: { status: { lastHeartbeatTime: now.toISOString().replace(/\.\d{3}Z$/, 'Z'), agentVersion: this.opts.version } },
        },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      );
      this.opts.metrics.heartbeat(true, now);
      return true;
    } catch (err) {
      this.opts.metrics.heartbeat(false, now);
      this.opts.logger.warn({ cluster: this.opts.cluster, message: apiMessage(err) }, 'heartbeat failed');
      return false;
    }
  }
}
