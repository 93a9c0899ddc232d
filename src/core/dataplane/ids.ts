// Service and backend IDs for kube-lb's entries come from the top of Cilium's ID spaces, far from where the
// agent allocates (it counts up from 1), and skip every ID that anything else uses.
//
// Once Cilium's allocator has reached kube-lb's IDs (it walks up from its cursor, wraps to 1 and skips only IDs
// it knows), the IDs just above the collision are the next it hands out, and the ones just below it the last:
// new IDs are then taken from just below the collision downwards (wrapping to the top), behind its cursor.
//
// Service IDs stop at 0xFFFE: Cilium never hands out 0xFFFF, and its v1.18 restore sets nextID to max+1 over
// the IDs it finds, which for 0xFFFF would wrap its u16 counter to 0. Backend IDs stop at 0xFFFFFFFE likewise.

export const SERVICE_ID_TOP = 0xfffe;
export const BACKEND_ID_TOP = 0xfffffffe;

/**
 * Hands out IDs from `start` (default `top`) downwards to 1, then from `top` down to just above `start`; never
 * one that `taken` reports and never 0.
 */
export class TopDownIds {
  readonly #taken: (id: number) => boolean;
  readonly #top: number;
  readonly #start: number;
  #next: number;
  #wrapped = false;

  /** `taken` is asked only while allocating, so large sets of used IDs are consulted, never copied. */
  constructor(top: number, taken: (id: number) => boolean, start = top) {
    this.#taken = taken;
    this.#top = top;
    this.#start = Math.min(Math.max(start, 1), top);
    this.#next = this.#start;
  }

  /** The next free ID, or undefined when the space is exhausted. Each ID is handed out once. */
  take(): number | undefined {
    for (;;) {
      const floor = this.#wrapped ? this.#start + 1 : 1;
      while (this.#next >= floor && this.#taken(this.#next)) this.#next--;
      if (this.#next >= floor) return this.#next--;
      if (this.#wrapped || this.#start === this.#top) return undefined;
      this.#wrapped = true;
      this.#next = this.#top;
    }
  }
}
