// A typed informer over client-node's ListWatch: list+watch with reconnects, a `synced` promise for the first
// full list, and a periodic resync that replays every cached object so level-triggered controllers repair
// anything an event stream may have missed.
//
// What it adds to client-node's: LISTs in pages (paging.ts), a transform every object passes before it enters
// the cache, from the list and the watch alike (trim.ts: what a program never reads costs it no memory), and
// restarts after a failed list or watch with jittered exponential backoff (src/shared/backoff.ts) instead of
// a fixed second, so an apiserver restart is not met by every informer of every replica at once, every second.
import * as k8s from '@kubernetes/client-node';
import { Backoff, WATCH_BACKOFF, type BackoffPolicy } from '../shared/backoff.ts';
import type { Logger } from '../shared/logger.ts';
import { DEFAULT_PAGE_SIZE, listAllPages, type ListPage, type PagedList } from './paging.ts';

export interface InformerHandlers<T> {
  onUpsert?(obj: T): void;
  onDelete?(obj: T): void;
}

export interface InformerOptions<T> {
  kubeConfig: k8s.KubeConfig;
  /** API path to watch, e.g. /api/v1/services or /apis/kube-lb.io/v1alpha1/vipclaims. */
  path: string;
  /**
   * One page of the LIST: pass page.limit and page.continue to the API call, and the informer pages through
   * large lists. A list function that ignores them returns everything in one response, as before.
   */
  list: (page: ListPage) => Promise<PagedList<T> | k8s.KubernetesListObject<T & k8s.KubernetesObject>>;
  labelSelector?: string;
  /** Watches only matching objects (e.g. metadata.name=X, which RBAC matches against resourceNames). */
  fieldSelector?: string;
  /** Replays the cache through onUpsert this often; 0 disables. */
  resyncMs?: number;
  /** Objects per LIST page (default 500; 0: one unpaged LIST). */
  pageSize?: number;
  /**
   * Applied to every object from the list and the watch before it is cached or handed to handlers; returns
   * what to keep. Handlers and get()/list() see only the result.
   */
  transform?: (obj: T) => T;
  /** Restarts after a failed list or watch (default: 200 ms doubling to 30 s, equal jitter). */
  backoff?: BackoffPolicy;
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

type WatchCallback = Parameters<k8s.Watch['watch']>[2];

/** A Watch whose events' objects pass `transform` before ListWatch caches them. */
function transformingWatch<T>(kc: k8s.KubeConfig, transform: (obj: T) => T): k8s.Watch {
  const watch = new k8s.Watch(kc);
  const wrapped = Object.create(watch) as k8s.Watch;
  wrapped.watch = (path, params, callback: WatchCallback, done) =>
    watch.watch(
      path,
      params,
      (phase, obj, raw) => {
        // ERROR carries a Status and BOOKMARK only a resourceVersion: neither is an object to cache.
        const kept: unknown = phase === 'ERROR' || phase === 'BOOKMARK' ? obj : transform(obj as T);
        callback(phase, kept, raw);
      },
      done,
    );
  return wrapped;
}

export function createInformer<T extends k8s.KubernetesObject>(opts: InformerOptions<T>): TypedInformer<T> {
  let markSynced!: () => void;
  const synced = new Promise<void>((resolve) => (markSynced = resolve));
  const transform = opts.transform ?? ((o: T) => o);
  const pageSize = opts.pageSize ?? DEFAULT_PAGE_SIZE;
  // Synced means the first full list is in the cache. client-node fills its cache synchronously right after
  // the list promise resolves (and fires 'connect' before listing), so mark on the next macrotask.
  const list = async (): Promise<k8s.KubernetesListObject<T>> => {
    const result = await listAllPages<T>((page) => opts.list(page) as Promise<PagedList<T>>, {
      pageSize,
      transform,
      onRestart: (restarts, err) =>
        opts.logger.info(
          { err, path: opts.path, restarts },
          'list continue token expired; listing again from the first page',
        ),
    });
    setImmediate(markSynced);
    return result as k8s.KubernetesListObject<T>;
  };
  const informer = new k8s.ListWatch<T>(
    opts.path,
    transformingWatch(opts.kubeConfig, transform),
    list,
    false,
    opts.labelSelector,
    opts.fieldSelector,
  );
  const handlers: InformerHandlers<T>[] = [];
  const backoff = new Backoff(opts.backoff ?? WATCH_BACKOFF);
  let resyncTimer: NodeJS.Timeout | undefined;
  let restartTimer: NodeJS.Timeout | undefined;
  let stopped = false;

  informer.on('add', (o) => {
    for (const h of handlers) h.onUpsert?.(o);
  });
  informer.on('update', (o) => {
    for (const h of handlers) h.onUpsert?.(o);
  });
  informer.on('delete', (o) => {
    for (const h of handlers) h.onDelete?.(o);
  });
  informer.on('error', (err) => {
    // client-node stops the informer on errors other than its own reconnects; restart it unless we stopped
    // (stopping aborts the watch, which client-node also reports as an error). The backoff resets once the
    // informer has run a minute without failing.
    if (stopped) return;
    const delayMs = backoff.fail(performance.now());
    opts.logger.warn({ err, path: opts.path, attempt: backoff.attempts, delayMs }, 'list or watch failed; restarting');
    clearTimeout(restartTimer);
    restartTimer = setTimeout(() => {
      if (!stopped)
        informer.start().catch((e: unknown) => opts.logger.warn({ err: e, path: opts.path }, 'watch restart failed'));
    }, delayMs);
    restartTimer.unref();
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
          for (const o of informer.list()) for (const h of handlers) h.onUpsert?.(o);
        }, opts.resyncMs);
        resyncTimer.unref();
      }
    },
    async stop() {
      stopped = true;
      clearTimeout(restartTimer);
      if (resyncTimer) clearInterval(resyncTimer);
      await informer.stop();
    },
  };
}
