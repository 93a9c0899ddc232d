// Service and backend IDs for kube-lb's entries come from the top of Cilium's ID spaces, far from where the
// agent allocates (it counts up from 1), and skip every ID that anything else uses.
//
// Service IDs stop at 0xFFFE: Cilium never hands out 0xFFFF, and its v1.18 restore sets nextID to max+1 over
// the IDs it finds, which for 0xFFFF would wrap its u16 counter to 0. Backend IDs stop at 0xFFFFFFFE likewise.

export const SERVICE_ID_TOP = 0xfffe;
export const BACKEND_ID_TOP = 0xfffffffe;

/** Hands out IDs from `top` downwards, never one in `taken` and never 0. */
export class TopDownIds {
  readonly #taken: Set<number>;
  #next: number;

  constructor(top: number, taken: Iterable<number>) {
    this.#taken = new Set(taken);
    this.#next = top;
  }

  /** The next free ID, or undefined when the space is exhausted. */
  take(): number | undefined {
    while (this.#next >= 1 && this.#taken.has(this.#next)) this.#next--;
    if (this.#next < 1) return undefined;
    const id = this.#next--;
    this.#taken.add(id);
    return id;
  }

  /** Marks an ID as used (e.g. one kept from before) so `take` skips it. */
  reserve(id: number): void {
    this.#taken.add(id);
  }
}
