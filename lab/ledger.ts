// A ledger of everything a test run creates outside its own process: child processes, network namespaces,
// links, mounts, directories, cgroups. It lives in a directory under /tmp/kube-lb-test named after the owning process,
// so that a run killed midway is cleaned up by the next one (lab/cleanup-stale.ts), while runs that
// are still alive are left alone.
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const LEDGER_ROOT = process.env.KUBE_LB_LEDGER_ROOT ?? '/tmp/kube-lb-test';

export type ResourceKind = 'proc' | 'netns' | 'link' | 'mount' | 'dir' | 'cgroup';

export interface LedgerEntry {
  readonly kind: ResourceKind;
  readonly value: string;
}

export class Ledger {
  readonly dir: string;
  readonly #file: string;

  private constructor(dir: string) {
    this.dir = dir;
    this.#file = join(dir, 'resources');
  }

  /** Opens a fresh ledger owned by this process. `label` only helps a human reading /tmp. */
  static open(label: string): Ledger {
    mkdirSync(LEDGER_ROOT, { recursive: true });
    const dir = mkdtempSync(join(LEDGER_ROOT, `${label.replace(/[^a-z0-9-]/gi, '')}-${process.pid}-`));
    writeFileSync(join(dir, 'owner'), `${process.pid} ${processStartTime(process.pid)}\n`);
    writeFileSync(join(dir, 'resources'), '');
    // A run that released everything leaves no trace; one that did not is undone by the next cleanup-stale.
    process.once('exit', () => {
      try {
        if (Ledger.outstanding(dir).length === 0) rmSync(dir, { recursive: true, force: true });
      } catch {
        // The owner already removed the directory (the demo and topology teardown do).
      }
    });
    return new Ledger(dir);
  }

  record(kind: ResourceKind, value: string): void {
    appendFileSync(this.#file, `+${kind} ${value}\n`);
  }

  release(kind: ResourceKind, value: string): void {
    appendFileSync(this.#file, `-${kind} ${value}\n`);
  }

  /** Resources recorded and not released, newest first (the order to undo them in). */
  static outstanding(dir: string): LedgerEntry[] {
    const live = new Map<string, LedgerEntry>();
    for (const line of readFileSync(join(dir, 'resources'), 'utf8').split('\n')) {
      const m = /^([+-])(\w+) (.+)$/.exec(line);
      if (!m) continue;
      const key = `${m[2]} ${m[3]}`;
      if (m[1] === '+') live.set(key, { kind: m[2] as ResourceKind, value: m[3]! });
      else live.delete(key);
    }
    return [...live.values()].reverse();
  }
}

/** Start time of a process in clock ticks since boot, so a recycled PID is not mistaken for the owner. */
export function processStartTime(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
  } catch {
    return '';
  }
}

/**
 * A short name unique to this run, for kernel objects with tight limits (interface names: 15 bytes).
 * Every kube-lb test object starts with "klb" so a human can tell them apart from the host's.
 */
export function uniqueName(prefix: string, maxLength = 15): string {
  const suffix = randomBytes(3).toString('hex');
  const head = `klb${prefix}`.slice(0, maxLength - suffix.length);
  return `${head}${suffix}`;
}

/**
 * A lab component's directory: `given` as it is, or a fresh one in the temporary directory, recorded in the ledger.
 * `remove` deletes only a fresh one, and only once.
 */
export function componentDir(ledger: Ledger, prefix: string, given?: string): { dir: string; remove(): void } {
  if (given !== undefined) return { dir: given, remove: () => undefined };
  const dir = mkdtempSync(join(tmpdir(), prefix));
  ledger.record('dir', dir);
  let removed = false;
  return {
    dir,
    remove() {
      if (removed) return;
      removed = true;
      rmSync(dir, { recursive: true, force: true });
      ledger.release('dir', dir);
    },
  };
}
