// Read-modify-write against the API server with optimistic concurrency: on a 409 conflict, read again and
// re-apply the change. `mutate` returns undefined when nothing needs writing, so unchanged objects cost no write.
import { isConflict } from './client.ts';

export interface UpdateWithRetry<T> {
  read: () => Promise<T>;
  mutate: (current: T) => T | undefined;
  write: (next: T) => Promise<T>;
  attempts?: number;
}

export type UpdateOutcome<T> = { written: true; object: T } | { written: false; object: T };

export async function updateWithRetry<T>(op: UpdateWithRetry<T>): Promise<UpdateOutcome<T>> {
  const attempts = op.attempts ?? 5;
  for (let i = 1; ; i++) {
    const current = await op.read();
    const next = op.mutate(current);
    if (next === undefined) return { written: false, object: current };
    try {
      return { written: true, object: await op.write(next) };
    } catch (err) {
      if (!isConflict(err) || i >= attempts) throw err;
    }
  }
}
