// Events behind the status path. Status is what controllers and users act on (a claim's Allocated condition, a
// Service's EXTERNAL-IP); Events are for humans. In a burst (a thousand Services created at once, a takeover) an
// Event per decision would double a program's writes and slow its status writes down, so Events go through their
// own small queue: a few in flight, Warnings before Normal ones, Normal ones held while the program's work queue
// is busy (up to maxDelayMs), and Normal Events dropped (counted) when the backlog is full. Used by the allocator
// (claims) and the agent (Services). Measured with `npm run bench -- agent` (200 Services in a burst): Events
// written during the burst cost about a third of each Service's time to EXTERNAL-IP.
import type { EventRecorder, EventTarget, EventType } from './events.ts';

export interface PacedEventsOptions {
  recorder: EventRecorder;
  /** Events written at the same time. */
  concurrency: number;
  /** Normal Events beyond this backlog are dropped; Warnings are always kept. */
  maxBacklog: number;
  onDropped?: () => void;
  /** The program's own work is queued: Normal Events wait (Warnings do not). Unset: never busy. */
  busy?: () => boolean;
  /** The longest a Normal Event waits for `busy` to clear; 5 s unless said. */
  maxDelayMs?: number;
  /** Monotonic clock in ms (tests). */
  now?: () => number;
}

const DEFAULT_MAX_DELAY_MS = 5000;
/** How often held Normal Events look again whether the program is still busy. */
const RECHECK_MS = 100;

interface Pending {
  target: EventTarget;
  type: EventType;
  reason: string;
  message: string;
  /** When it was recorded (options.now). */
  at: number;
}

export class PacedEvents implements EventRecorder {
  readonly #opts: PacedEventsOptions;
  readonly #warnings: Pending[] = [];
  readonly #normals: Pending[] = [];
  #running = 0;
  #recheck: NodeJS.Timeout | undefined;
  readonly #now: () => number;

  constructor(opts: PacedEventsOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? (() => performance.now());
  }

  get backlog(): number {
    return this.#warnings.length + this.#normals.length;
  }

  record(target: EventTarget, type: EventType, reason: string, message: string): Promise<void> {
    const item = { target, type, reason, message, at: this.#now() };
    if (type === 'Warning') this.#warnings.push(item);
    else if (this.backlog < this.#opts.maxBacklog) this.#normals.push(item);
    else this.#opts.onDropped?.();
    this.#pump();
    return Promise.resolve();
  }

  /** The next Normal Event may go: the program is idle, or the oldest has waited long enough. */
  #normalMayGo(): boolean {
    const oldest = this.#normals[0];
    if (!oldest) return false;
    if (!this.#opts.busy?.()) return true;
    return this.#now() - oldest.at >= (this.#opts.maxDelayMs ?? DEFAULT_MAX_DELAY_MS);
  }

  #pump(): void {
    while (this.#running < this.#opts.concurrency) {
      const next = this.#warnings.shift() ?? (this.#normalMayGo() ? this.#normals.shift() : undefined);
      if (!next) {
        if (this.#normals.length > 0 && !this.#recheck) {
          this.#recheck = setTimeout(() => {
            this.#recheck = undefined;
            this.#pump();
          }, RECHECK_MS);
          this.#recheck.unref();
        }
        return;
      }
      this.#running++;
      // The recorder is best effort and never throws; finally keeps the count right regardless.
      void this.#opts.recorder.record(next.target, next.type, next.reason, next.message).finally(() => {
        this.#running--;
        this.#pump();
      });
    }
  }
}
