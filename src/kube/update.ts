// Read-modify-write against the API server with optimistic concurrency: on a 409 conflict, read again and
// re-apply the change. `mutate` returns undefined when nothing needs writing, so unchanged objects cost no write.
// The one conflict loop of kube-lb: objects that may not exist yet (a Secret, a Lease) read as undefined
// (readIfExists) and `write` creates or replaces by what it was computed from; a writer that keeps the copy its
// last write returned passes it as `lastWritten` and pays one request, not two, when nobody else wrote between.
import { isConflict, isNotFound } from './client.ts';

export interface UpdateWithRetry<T> {
  read: () => Promise<T>;
  mutate: (current: T) => NonNullable<T> | undefined | Promise<NonNullable<T> | undefined>;
  /** Writes `next`, computed from `current` (undefined when the object did not exist: create it). */
  write: (next: NonNullable<T>, current: T) => Promise<NonNullable<T>>;
  attempts?: number;
  /** The object as this process's last write returned it: the first attempt starts from it instead of a read. */
  lastWritten?: { object: T };
  /** Which write failures mean "the copy was stale, read again"; 409 Conflict unless given. */
  isStale?: (err: unknown) => boolean;
}

export type UpdateOutcome<T> = { written: true; object: NonNullable<T> } | { written: false; object: T };

export async function updateWithRetry<T>(op: UpdateWithRetry<T>): Promise<UpdateOutcome<T>> {
  const attempts = op.attempts ?? 5;
  const isStale = op.isStale ?? isConflict;
  let known = op.lastWritten;
  for (let i = 1; ; i++) {
    const current = known ? known.object : await op.read();
    known = undefined;
    const next = await op.mutate(current);
    if (next === undefined) return { written: false, object: current };
    try {
      return { written: true, object: await op.write(next, current) };
    } catch (err) {
      if (!isStale(err) || i >= attempts) throw err;
    }
  }
}

/** `read()`, or undefined when the object does not exist (404). */
export async function readIfExists<T>(read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** For writers that replace from their last write's copy: a 404 (deleted meanwhile) is stale too, read again. */
export const isConflictOrGone = (err: unknown): boolean => isConflict(err) || isNotFound(err);
