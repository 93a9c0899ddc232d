// Events behind the status path. Status is what controllers and users act on (a claim's Allocated condition, a
// Service's EXTERNAL-IP); Events are for humans. In a burst (a thousand Services created at once, a takeover) an
// Event per decision would double a program's writes and slow its status writes down, so Events go through their
// own small queue: a few in flight, Warnings before Normal ones, and Normal Events dropped (counted) when the
// backlog is full. Used by the allocator (claims) and the agent (Services).
import type { EventRecorder, EventTarget, EventType } from './events.ts';

export interface PacedEventsOptions {
  recorder: EventRecorder;
  /** Events written at the same time. */
  concurrency: number;
  /** Normal Events beyond this backlog are dropped; Warnings are always kept. */
  maxBacklog: number;
  onDropped?: () => void;
}

interface Pending {
  target: EventTarget;
  type: EventType;
  reason: string;
  message: string;
}

export class PacedEvents implements EventRecorder {
  readonly #opts: PacedEventsOptions;
  readonly #warnings: Pending[] = [];
  readonly #normals: Pending[] = [];
  #running = 0;

  constructor(opts: PacedEventsOptions) {
    this.#opts = opts;
  }

  get backlog(): number {
    return this.#warnings.length + this.#normals.length;
  }

  record(target: EventTarget, type: EventType, reason: string, message: string): Promise<void> {
    const item = { target, type, reason, message };
    if (type === 'Warning') this.#warnings.push(item);
    else if (this.backlog < this.#opts.maxBacklog) this.#normals.push(item);
    else this.#opts.onDropped?.();
    this.#pump();
    return Promise.resolve();
  }

  #pump(): void {
    while (this.#running < this.#opts.concurrency) {
      const next = this.#warnings.shift() ?? this.#normals.shift();
      if (!next) return;
      this.#running++;
      // The recorder is best effort and never throws; finally keeps the count right regardless.
      void this.#opts.recorder.record(next.target, next.type, next.reason, next.message).finally(() => {
        this.#running--;
        this.#pump();
      });
    }
  }
}
