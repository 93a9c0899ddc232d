// Service IDs for kube-lb's entries come from the top of Cilium's u16 ID space, far from where the agent
// allocates (it counts up from 1), and skip every ID that anything else uses. Backend IDs (u32) are derived
// from the backend itself: a hash of its address, port and protocol into the upper half of the space, so the
// same backend gets the same ID in every process without a record. Only a backend that had to take another ID
// (its own was in use) is recorded, in kube-lb's backend table.
//
// Once Cilium's allocator has reached kube-lb's IDs (it walks up from its cursor, wraps to 1 and skips only IDs
// it knows), the IDs just above the collision are the next it hands out, and the ones just below it the last:
// new IDs are then taken from just below the collision downwards (wrapping to the top), behind its cursor.
//
// Service IDs stop at 0xFFFE: Cilium never hands out 0xFFFF, and its v1.18 restore sets nextID to max+1 over
// the IDs it finds, which for 0xFFFF would wrap its u16 counter to 0. Backend IDs stop at 0xFFFFFFFE likewise.

export const SERVICE_ID_TOP = 0xfffe;
export const BACKEND_ID_TOP = 0xfffffffe;
/** The lowest backend ID a hash yields: Cilium would have to hand out 2^31 backend IDs to reach it. */
export const BACKEND_ID_HASHED_FLOOR = 0x80000000;

/**
 * The ID a backend (address, port, proto as kube-lb's backend table keys it) takes unless it is in use: FNV-1a
 * over the table key's 8 bytes, mixed with murmur3's 32-bit finaliser, in [2^31, 0xFFFFFFFE]. This is part of
 * the persistent format: a change would move every backend's ID, as a restart without the table once did.
 */
export function hashedBackendId(address: number, port: number, proto: number): number {
  let h = 0x811c9dc5;
  h = Math.imul(h ^ (address >>> 24), 0x01000193);
  h = Math.imul(h ^ ((address >>> 16) & 255), 0x01000193);
  h = Math.imul(h ^ ((address >>> 8) & 255), 0x01000193);
  h = Math.imul(h ^ (address & 255), 0x01000193);
  h = Math.imul(h ^ ((port >>> 8) & 255), 0x01000193);
  h = Math.imul(h ^ (port & 255), 0x01000193);
  h = Math.imul(h ^ (proto & 255), 0x01000193);
  h = Math.imul(h, 0x01000193); // the key's eighth byte, always 0
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  const id = (h | BACKEND_ID_HASHED_FLOOR) >>> 0;
  return Math.min(id, BACKEND_ID_TOP);
}

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
