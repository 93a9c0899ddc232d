// A typed informer over client-node's ListWatch: list+watch with reconnects (client-node backs off), a
// `synced` promise for the first full list, and a periodic resync that replays every cached object so
// level-triggered controllers repair anything an event stream may have missed.
import * as k8s from '@kubernetes/client-node';
import type { Logger } from '../shared/logger.ts';

export interface InformerHandlers<T> {
  onUpsert?(obj: T): void;
  onDelete?(obj: T): void;
}

export interface InformerOptions<T> {
  kubeConfig: k8s.KubeConfig;
  /** API path to watch, e.g. /api/v1/services or /apis/kube-lb.io/v1alpha1/vipclaims. */
  path: string;
  list: () => Promise<k8s.KubernetesListObject<T & k8s.KubernetesObject>>;
  labelSelector?: string;
  /** Replays the cache through onUpsert this often; 0 disables. */
  resyncMs?: number;
  logger: Logger;
}

export interface TypedInformer<T> {
  /** Resolves once the first full list is in the cache (not merely when a watch connects). */
  readonly synced: Promise<void>;
  get(name: string, namespace?: string): T | undefined;
  list(namespace?: string): readonly T[];
  on(handlers: InformerHandlers<T>): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function createInformer<T extends k8s.KubernetesObject>(opts: InformerOptions<T>): TypedInformer<T> {
  let markSynced!: () => void;
  const synced = new Promise<void>((resolve) => (markSynced = resolve));
  // Synced means the first full list is in the cache. client-node fills its cache synchronously right after
  // the list promise resolves (and fires 'connect' before listing), so mark on the next macrotask.
  const list = async (): Promise<k8s.KubernetesListObject<T>> => {
    const result = await opts.list();
    setImmediate(markSynced);
    return result;
  };
  const informer = k8s.makeInformer<T>(opts.kubeConfig, opts.path, list, opts.labelSelector);
  const handlers: InformerHandlers<T>[] = [];
  let resyncTimer: NodeJS.Timeout | undefined;
  let stopped = false;

  informer.on('add', (o) => handlers.forEach((h) => h.onUpsert?.(o)));
  informer.on('update', (o) => handlers.forEach((h) => h.onUpsert?.(o)));
  informer.on('delete', (o) => handlers.forEach((h) => h.onDelete?.(o)));
  informer.on('error', (err) => {
    // client-node stops the informer on errors other than its own reconnects; restart it unless we stopped
    // (stopping aborts the watch, which client-node also reports as an error).
    if (stopped) return;
    opts.logger.warn({ err, path: opts.path }, 'watch failed; restarting');
    setTimeout(() => {
      if (!stopped) informer.start().catch((e: unknown) => opts.logger.warn({ err: e }, 'watch restart failed'));
    }, 1000).unref();
  });

  return {
    synced,
    get: (name, namespace) => informer.get(name, namespace),
    list: (namespace) => informer.list(namespace),
    on: (h) => handlers.push(h),
    async start() {
      stopped = false;
      await informer.start();
      if (opts.resyncMs && opts.resyncMs > 0) {
        resyncTimer = setInterval(() => {
          for (const o of informer.list()) handlers.forEach((h) => h.onUpsert?.(o));
        }, opts.resyncMs);
        resyncTimer.unref();
      }
    },
    async stop() {
      stopped = true;
      if (resyncTimer) clearInterval(resyncTimer);
      await informer.stop();
    },
  };
}
