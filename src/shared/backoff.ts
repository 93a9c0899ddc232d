// Exponential backoff with jitter, in one place for every retry loop (informer restarts, the allocator's
// relist, the work queue's per-key retries). Pure: no timers and no clock of its own; callers pass `now` and
// may pass the random source, so tests can drive it step by step.
//
// Jitter spreads the retries of many clients that failed together (an apiserver restart drops every watch at
// once): without it they all come back in the same millisecond, every time. "full" picks a delay in
// [0, d], "equal" in [d/2, d] (never retries at once), "none" is plain doubling (the work queue's
// per-key retries, where only one client is involved and tests read the delays).
import { assertNever } from './errors.ts';

export type Jitter = 'none' | 'full' | 'equal';

export interface BackoffPolicy {
  /** Delay before the first retry, before jitter. */
  readonly initialMs: number;
  /** Delays stop growing here, before jitter. */
  readonly maxMs: number;
  /** Growth per failure; 2 unless said. */
  readonly factor?: number;
  readonly jitter: Jitter;
  /**
   * A loop that has run this long since its last retry without failing starts again from initialMs. Unset:
   * only reset() starts over.
   */
  readonly resetAfterMs?: number;
}

/** The policy for reconnecting watches and relisting: 200 ms doubling to 30 s, equal jitter, reset after 60 s. */
export const WATCH_BACKOFF: BackoffPolicy = { initialMs: 200, maxMs: 30_000, jitter: 'equal', resetAfterMs: 60_000 };

export function checkPolicy(p: BackoffPolicy): void {
  const factor = p.factor ?? 2;
  if (
    !(p.initialMs > 0) ||
    !(p.maxMs >= p.initialMs) ||
    !(factor >= 1) ||
    (p.resetAfterMs !== undefined && !(p.resetAfterMs >= 0))
  ) {
    throw new RangeError(
      `backoff policy needs 0 < initialMs <= maxMs, factor >= 1 and resetAfterMs >= 0; got initialMs=${p.initialMs} maxMs=${p.maxMs} factor=${factor} resetAfterMs=${p.resetAfterMs}`,
    );
  }
}

/**
 * The delay before retry number `attempt` (1 for the first retry). `random` returns a number in [0, 1), as
 * Math.random does.
 */
export function backoffDelay(p: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  if (!Number.isInteger(attempt) || attempt < 1)
    throw new RangeError(`backoff attempt must be an integer >= 1, got ${attempt}`);
  // Capped before exponentiation overflows: 2 ** 1100 is Infinity, and Infinity * 0 (full jitter) is NaN.
  const ceiling = Math.min(p.maxMs, p.initialMs * (p.factor ?? 2) ** Math.min(attempt - 1, 64));
  switch (p.jitter) {
    case 'none':
      return ceiling;
    case 'full':
      return Math.floor(random() * ceiling);
    case 'equal':
      return Math.floor(ceiling / 2 + random() * (ceiling / 2));
    default:
      return assertNever(p.jitter, 'jitter');
  }
}

/** The failures of one retry loop: each failure returns the delay to wait before trying again. */
export class Backoff {
  readonly #policy: BackoffPolicy;
  readonly #random: () => number;
  #attempt = 0;
  /** When the last retry was due to start (failure time + its delay). */
  #retryAt: number | undefined;

  constructor(policy: BackoffPolicy, random: () => number = Math.random) {
    checkPolicy(policy);
    this.#policy = policy;
    this.#random = random;
  }

  /** Records a failure at `now` (ms, any monotonic clock) and returns how long to wait before retrying. */
  fail(now: number): number {
    const reset = this.#policy.resetAfterMs;
    if (reset !== undefined && this.#retryAt !== undefined && now - this.#retryAt >= reset) this.#attempt = 0;
    this.#attempt++;
    const delay = backoffDelay(this.#policy, this.#attempt, this.#random);
    this.#retryAt = now + delay;
    return delay;
  }

  /** The loop succeeded in a way that proves it healthy: the next failure waits initialMs again. */
  reset(): void {
    this.#attempt = 0;
    this.#retryAt = undefined;
  }

  /** Failures since the last reset. */
  get attempts(): number {
    return this.#attempt;
  }
}
