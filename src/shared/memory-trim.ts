// Gives memory back after a burst. V8 grows its heap to what a burst needs (thousands of watch events and status
// writes, each leaving garbage) and keeps it: an allocator holding 13,000 claims (live set ~80 MB) stayed at
// ~320 MB RSS for as long as it ran, because neither a regular major GC nor V8's idle memory reducer returns the
// pages. Only a last-resort collection (the one V8 runs before giving up on an allocation) compacts the heap and
// unmaps what it freed. It stops the program while it marks and compacts the live set (72 ms for 27 MB, about
// 0.3 s for 110 MB: docs/allocator.md), so it runs only when the work queue has been idle for a while, only after
// the resident set grew well past what the last trim left, and at most once per interval. The decision is
// `trimDue` (pure); `startMemoryTrim` is the timer around it.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Logger } from './logger.ts';

export interface TrimPolicy {
  /** The work queue has had nothing to do for this long. */
  readonly idleMs: number;
  /** The resident set has grown this much since the last trim (or since start). */
  readonly growthBytes: number;
  /** No two trims closer than this. */
  readonly minIntervalMs: number;
}

export const DEFAULT_TRIM_POLICY: TrimPolicy = { idleMs: 1000, growthBytes: 64 * 2 ** 20, minIntervalMs: 30_000 };

export interface TrimState {
  /** Since when the work queue has been idle; undefined while it is busy. */
  idleSince: number | undefined;
  /** The resident set right after the last trim, or at start. */
  baselineRss: number;
  lastTrimAt: number | undefined;
}

/** Folds one observation into the state and says whether to trim now. */
export function trimDue(policy: TrimPolicy, state: TrimState, now: number, rss: number, busy: boolean): boolean {
  if (busy) {
    state.idleSince = undefined;
    return false;
  }
  state.idleSince ??= now;
  return (
    now - state.idleSince >= policy.idleMs &&
    rss - state.baselineRss >= policy.growthBytes &&
    (state.lastTrimAt === undefined || now - state.lastTrimAt >= policy.minIntervalMs)
  );
}

type Gc = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

/** V8's gc() without --expose-gc on the command line: the flag set at run time exposes it in a new context. */
function lastResortGc(): Gc {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as Gc;
}

export interface MemoryTrimOptions {
  /** The program has queued or running work. */
  busy: () => boolean;
  logger: Logger;
  policy?: TrimPolicy;
  /** How often to look; 500 ms unless said. */
  checkMs?: number;
}

export function startMemoryTrim(opts: MemoryTrimOptions): { stop(): void } {
  const policy = opts.policy ?? DEFAULT_TRIM_POLICY;
  const gc = lastResortGc();
  const state: TrimState = { idleSince: undefined, baselineRss: process.memoryUsage.rss(), lastTrimAt: undefined };
  const timer = setInterval(() => {
    const now = performance.now();
    const before = process.memoryUsage.rss();
    if (!trimDue(policy, state, now, before, opts.busy())) return;
    gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
    const after = process.memoryUsage();
    state.lastTrimAt = performance.now();
    state.baselineRss = after.rss;
    const mb = (n: number): number => Math.round(n / 2 ** 20);
    opts.logger.info(
      {
        rssBeforeMb: mb(before),
        rssAfterMb: mb(after.rss),
        heapUsedMb: mb(after.heapUsed),
        ms: Math.round(state.lastTrimAt - now),
      },
      'memory returned after a burst',
    );
  }, opts.checkMs ?? 500);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
