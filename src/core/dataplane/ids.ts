// Service and backend IDs for kube-lb's entries come from the top of Cilium's ID spaces, far from where the
// agent allocates (it counts up from 1), and skip every ID that anything else uses.
//
// Service IDs stop at 0xFFFE: Cilium never hands out 0xFFFF, and its v1.18 restore sets nextID to max+1 over
// the IDs it finds, which for 0xFFFF would wrap its u16 counter to 0. Backend IDs stop at 0xFFFFFFFE likewise.

export const SERVICE_ID_TOP = 0xfffe;
export const BACKEND_ID_TOP = 0xfffffffe;

/** Hands out IDs from `top` downwards, never one that `taken` reports and never 0. */
export class TopDownIds {
  readonly #taken: (id: number) => boolean;
  #next: number;

  /** `taken` is asked only while allocating, so large sets of used IDs are consulted, never copied. */
  constructor(top: number, taken: (id: number) => boolean) {
    this.#taken = taken;
    this.#next = top;
  }

  /** The next free ID, or undefined when the space is exhausted. Each ID is handed out once. */
  take(): number | undefined {
    while (this.#next >= 1 && this.#taken(this.#next)) this.#next--;
    if (this.#next < 1) return undefined;
    return this.#next--;
  }
}
