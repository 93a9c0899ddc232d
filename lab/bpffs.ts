// A private bpffs mount in a temporary directory, so tests and benchmarks never touch /sys/fs/bpf. The mount
// and the directory are recorded in the ledger; `dispose` unmounts and removes both.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Ledger } from './ledger.ts';

export interface Bpffs {
  readonly dir: string;
  dispose(): void;
}

export function mountBpffs(ledger: Ledger, label = 'bpffs'): Bpffs {
  const dir = mkdtempSync(join(tmpdir(), `klb-${label}-`));
  ledger.record('dir', dir);
  execFileSync('mount', ['-t', 'bpf', 'bpf', dir]);
  ledger.record('mount', dir);
  let disposed = false;
  return {
    dir,
    dispose() {
      if (disposed) return;
      disposed = true;
      try {
        execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
      } catch {
        // Already unmounted.
      }
      ledger.release('mount', dir);
      rmSync(dir, { recursive: true, force: true });
      ledger.release('dir', dir);
    },
  };
}
