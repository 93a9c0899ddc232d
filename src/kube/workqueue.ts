// A keyed work queue as controllers need it: a key is processed by one worker at a time, repeated adds while
// it waits collapse into one, and a handler's closed result decides what happens next (done, retry with
// exponential backoff, or retry after a fixed delay). What client-go's queues report (depth, adds, time waited,
// retries) leaves through a narrow metrics port, so the queue itself knows no metrics library.
import { backoffDelay } from '../shared/backoff.ts';

export type HandlerResult = { kind: 'done' } | { kind: 'retry'; reason: string } | { kind: 'requeueAfter'; ms: number };

export const done: HandlerResult = { kind: 'done' };
export const retry = (reason: string): HandlerResult => ({ kind: 'retry', reason });
export const requeueAfter = (ms: number): HandlerResult => ({ kind: 'requeueAfter', ms });

/** client-go's workqueue metrics, as events (src/kube/workqueue-metrics.ts turns them into Prometheus series). */
export interface WorkQueueMetrics {
  /** A key was added and was not already waiting (an add that collapses into a waiting key is not counted). */
  added(): void;
  /** Keys waiting for a worker now (including one added again while a worker has it). */
  depth(keys: number): void;
  /** A worker took a key this long after it was added. */
  waited(seconds: number): void;
  /** A handler asked for a retry (or threw): the key comes back after a backoff. */
  retried(): void;
}

export interface WorkQueueOptions {
  concurrency?: number;
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  /** Called when a handler throws: the key is retried with backoff. */
  onError?: (key: string, err: unknown) => void;
  /** Called after every handler run with its result and duration (reconcile-latency metrics). */
  onProcessed?: (key: string, result: HandlerResult, durationMs: number) => void;
  metrics?: WorkQueueMetrics;
}

export class WorkQueue {
  readonly #pending = new Set<string>();
  readonly #order: string[] = [];
  readonly #active = new Set<string>();
  readonly #dirty = new Set<string>();
  readonly #failures = new Map<string, number>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  /** When each waiting key was first added (performance.now()), for the time it waited. */
  readonly #addedAt = new Map<string, number>();
  readonly #handler: (key: string) => Promise<HandlerResult>;
  readonly #opts: Required<Omit<WorkQueueOptions, 'onError' | 'onProcessed' | 'metrics'>> &
    Pick<WorkQueueOptions, 'onError' | 'onProcessed' | 'metrics'>;
  #running = 0;
  #stopped = false;
  #idleWaiters: Array<() => void> = [];

  constructor(handler: (key: string) => Promise<HandlerResult>, opts: WorkQueueOptions = {}) {
    this.#handler = handler;
    this.#opts = {
      concurrency: opts.concurrency ?? 4,
      baseBackoffMs: opts.baseBackoffMs ?? 200,
      maxBackoffMs: opts.maxBackoffMs ?? 30_000,
      onError: opts.onError,
      onProcessed: opts.onProcessed,
      metrics: opts.metrics,
    };
  }

  add(key: string): void {
    if (this.#stopped) return;
    this.#cancelTimer(key);
    if (this.#pending.has(key) || this.#dirty.has(key)) return;
    this.#addedAt.set(key, performance.now());
    this.#opts.metrics?.added();
    if (this.#active.has(key)) {
      this.#dirty.add(key);
      this.#reportDepth();
      return;
    }
    this.#pending.add(key);
    this.#order.push(key);
    this.#pump();
  }

  #cancelTimer(key: string): void {
    const t = this.#timers.get(key);
    if (t) {
      clearTimeout(t);
      this.#timers.delete(key);
    }
  }

  addAfter(key: string, ms: number): void {
    if (this.#stopped || this.#timers.has(key)) return;
    const t = setTimeout(() => {
      this.#timers.delete(key);
      this.add(key);
    }, ms);
    t.unref();
    this.#timers.set(key, t);
  }

  get length(): number {
    return this.#pending.size + this.#active.size + this.#timers.size;
  }

  /** Keys are queued or being handled now (timers for later retries do not count). */
  get busy(): boolean {
    return this.#pending.size + this.#active.size > 0;
  }

  /** Resolves when nothing is queued or running (timers for later retries do not count). */
  async idle(): Promise<void> {
    if (this.#pending.size === 0 && this.#active.size === 0) return;
    await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
  }

  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
    this.#pending.clear();
    this.#order.length = 0;
    this.#dirty.clear();
    this.#addedAt.clear();
    this.#reportDepth();
  }

  #reportDepth(): void {
    this.#opts.metrics?.depth(this.#pending.size + this.#dirty.size);
  }

  #pump(): void {
    while (!this.#stopped && this.#running < this.#opts.concurrency && this.#order.length > 0) {
      const key = this.#order.shift()!;
      this.#pending.delete(key);
      const added = this.#addedAt.get(key);
      this.#addedAt.delete(key);
      if (added !== undefined) this.#opts.metrics?.waited((performance.now() - added) / 1000);
      this.#active.add(key);
      this.#running++;
      void this.#process(key);
    }
    this.#reportDepth();
  }

  /** A key added again while a worker had it: already counted and timed when it was added; now it waits. */
  #requeueDirty(key: string): void {
    if (this.#stopped) return;
    this.#cancelTimer(key);
    this.#pending.add(key);
    this.#order.push(key);
  }

  async #process(key: string): Promise<void> {
    let result: HandlerResult;
    const started = performance.now();
    try {
      result = await this.#handler(key);
    } catch (err) {
      this.#opts.onError?.(key, err);
      result = retry(err instanceof Error ? err.message : String(err));
    }
    this.#opts.onProcessed?.(key, result, performance.now() - started);
    this.#active.delete(key);
    this.#running--;
    if (result.kind === 'done') this.#failures.delete(key);
    if (this.#dirty.delete(key)) this.#requeueDirty(key);
    else if (result.kind === 'retry') {
      this.#opts.metrics?.retried();
      const n = (this.#failures.get(key) ?? 0) + 1;
      this.#failures.set(key, n);
      // No jitter: one queue retries one key, and tests read the delays.
      this.addAfter(
        key,
        backoffDelay({ initialMs: this.#opts.baseBackoffMs, maxMs: this.#opts.maxBackoffMs, jitter: 'none' }, n),
      );
    } else if (result.kind === 'requeueAfter') this.addAfter(key, result.ms);
    this.#pump();
    if (this.#pending.size === 0 && this.#active.size === 0) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const w of waiters) w();
    }
  }
}
