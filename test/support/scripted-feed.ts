// A change feed a test drives: it reports what the test says another process did to the maps, and counts it.
import type { Lb4Maps, MapChange, MapChangeFeed } from '../../src/speaker/dataplane/maps.ts';

/** A feed the test drives: it reports what the test says another process did, and counts it. */
export class ScriptedFeed implements MapChangeFeed {
  foreign = 0;
  followed = 0;
  failFollow: Error | undefined;
  #listener: ((changes: readonly MapChange[], lost: boolean) => void) | undefined;
  follow(_maps: Lb4Maps): void {
    if (this.failFollow) throw this.failFollow;
    this.followed++;
  }
  foreignChanges(): number {
    return this.foreign;
  }
  onChanges(listener: (changes: readonly MapChange[], lost: boolean) => void): () => void {
    this.#listener = listener;
    return () => (this.#listener = undefined);
  }
  close(): void {}
  /** Another process changed the maps: counted, and reported unless `silent` (an event lost). */
  emit(changes: MapChange[], lost = false): void {
    this.foreign += changes.length + (lost ? 1 : 0);
    this.#listener?.(changes, lost);
  }
}
