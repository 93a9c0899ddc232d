// Undoes what crashed earlier runs left behind: for every ledger whose owner process is gone, kill its
// processes, delete its namespaces and links, unmount its mounts and remove its directories.
import { existsSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { Ledger, LEDGER_ROOT, processStartTime, type LedgerEntry } from './ledger.ts';

function ownerAlive(dir: string): boolean {
  try {
    const [pid, start] = readFileSync(join(dir, 'owner'), 'utf8').trim().split(' ');
    return processStartTime(Number(pid)) === start && start !== '';
  } catch {
    return false;
  }
}

function quiet(cmd: string, args: string[]): void {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
  } catch {
    // Already gone is the common case.
  }
}

export function undo(entry: LedgerEntry): void {
  switch (entry.kind) {
    case 'proc': {
      const [pid, start] = entry.value.split(' ');
      if (processStartTime(Number(pid)) === start) quiet('kill', ['-9', String(pid)]);
      break;
    }
    case 'netns':
      for (const pid of listNetnsPids(entry.value)) quiet('kill', ['-9', pid]);
      quiet('ip', ['netns', 'del', entry.value]);
      break;
    case 'link':
      quiet('ip', ['link', 'del', entry.value]);
      break;
    case 'mount':
      quiet('umount', ['-l', entry.value]);
      break;
    case 'dir':
      rmSync(entry.value, { recursive: true, force: true });
      break;
    case 'cgroup':
      removeCgroup(entry.value);
      break;
  }
}

/** A cgroup directory holds only kernel files: kill what is inside, then rmdir (never a recursive remove). */
export function removeCgroup(dir: string): void {
  try {
    writeFileSync(join(dir, 'cgroup.kill'), '1');
  } catch {
    // Gone already, or an old kernel without cgroup.kill: the processes died with their namespace.
  }
  try {
    rmdirSync(dir);
  } catch {
    // Already removed.
  }
}

function listNetnsPids(ns: string): string[] {
  try {
    return execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
}

export function cleanupStale(): number {
  if (!existsSync(LEDGER_ROOT)) return 0;
  let cleaned = 0;
  for (const name of readdirSync(LEDGER_ROOT)) {
    const dir = join(LEDGER_ROOT, name);
    if (ownerAlive(dir)) continue;
    try {
      for (const entry of Ledger.outstanding(dir)) undo(entry);
    } catch {
      // A ledger without a resources file has nothing to undo.
    }
    rmSync(dir, { recursive: true, force: true });
    cleaned++;
  }
  return cleaned;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const n = cleanupStale();
  if (n > 0) console.error(`cleanup-stale: removed what ${n} earlier run(s) left behind`);
}
