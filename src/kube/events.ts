// Kubernetes Events for the objects kube-lb handles, as `kubectl describe` shows them. A repeat of the same
// reason and message on the same object within the aggregation window bumps the count of the existing Event
// instead of writing a new one, so a flapping condition cannot flood the API server.
import * as k8s from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import type { Logger } from '../shared/logger.ts';

export interface EventTarget {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string | undefined;
  uid?: string | undefined;
}

export type EventType = 'Normal' | 'Warning';

export interface EventRecorder {
  record(target: EventTarget, type: EventType, reason: string, message: string): Promise<void>;
}

export interface EventRecorderOptions {
  kubeConfig: k8s.KubeConfig;
  /** Reporting component, e.g. "kube-lb-allocator". */
  component: string;
  /** Reporting instance (pod or node name). */
  instance: string;
  logger: Logger;
  aggregateWindowMs?: number;
  /** Bound on remembered series; the oldest are forgotten first. */
  maxSeries?: number;
}

interface Series {
  name: string;
  namespace: string;
  count: number;
  lastAt: number;
}

export function createEventRecorder(opts: EventRecorderOptions): EventRecorder {
  const core = opts.kubeConfig.makeApiClient(k8s.CoreV1Api);
  const windowMs = opts.aggregateWindowMs ?? 10 * 60_000;
  const maxSeries = opts.maxSeries ?? 4096;
  const series = new Map<string, Series>();

  return {
    async record(target, type, reason, message) {
      const namespace = target.namespace ?? 'default';
      const key = `${target.kind}/${namespace}/${target.name}/${target.uid ?? ''}/${type}/${reason}/${message}`;
      const now = new Date();
      const prev = series.get(key);
      try {
        if (prev && now.getTime() - prev.lastAt < windowMs) {
          prev.count++;
          prev.lastAt = now.getTime();
          await core.patchNamespacedEvent(
            { name: prev.name, namespace: prev.namespace, body: { count: prev.count, lastTimestamp: now } },
            k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
          );
          return;
        }
        const name = `${target.name}.${randomBytes(8).toString('hex')}`;
        await core.createNamespacedEvent({
          namespace,
          body: {
            metadata: { name, namespace },
            involvedObject: {
              apiVersion: target.apiVersion,
              kind: target.kind,
              name: target.name,
              namespace: target.namespace,
              uid: target.uid,
            },
            type,
            reason,
            message,
            count: 1,
            firstTimestamp: now,
            lastTimestamp: now,
            source: { component: opts.component, host: opts.instance },
            reportingComponent: opts.component,
            reportingInstance: opts.instance,
          },
        });
        series.delete(key);
        series.set(key, { name, namespace, count: 1, lastAt: now.getTime() });
        if (series.size > maxSeries) series.delete(series.keys().next().value!);
      } catch (err) {
        // Events are best effort: losing one must never fail the reconcile that produced it.
        series.delete(key);
        opts.logger.debug({ err, reason, object: `${target.kind} ${namespace}/${target.name}` }, 'event not recorded');
      }
    },
  };
}
