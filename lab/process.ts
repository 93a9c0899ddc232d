// Child processes for tests and the demo: recorded in the ledger, killed with the parent (PR_SET_PDEATHSIG via
// setpriv) so that even a SIGKILLed test run leaves no server behind, and stopped politely on teardown.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { processStartTime, type Ledger } from './ledger.ts';

export interface TrackedProcess {
  readonly child: ChildProcess;
  readonly name: string;
  readonly logFile: string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL now, as a crash would. */
  kill(): Promise<void>;
  readonly exited: Promise<number | null>;
}

const SETPRIV = '/usr/bin/setpriv';

export function spawnTracked(
  ledger: Ledger,
  name: string,
  command: string,
  args: readonly string[],
  options: SpawnOptions & { logFile: string },
): TrackedProcess {
  // Without it a killed run would leave its servers running until the next cleanup: fail instead, naming it.
  if (!existsSync(SETPRIV))
    throw new Error(`${SETPRIV} is missing (util-linux): it ties ${name} to this process's life`);
  const child = spawn(SETPRIV, ['--pdeathsig', 'KILL', '--', command, ...args], {
    ...options,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = createWriteStream(options.logFile, { flags: 'a' });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const pid = child.pid;
  const entry = pid === undefined ? undefined : `${pid} ${processStartTime(pid)}`;
  if (entry) ledger.record('proc', entry);
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      if (entry) ledger.release('proc', entry);
      resolve(code);
    });
    child.once('error', () => resolve(null));
  });
  const waitExit = async (): Promise<void> => {
    await exited;
  };
  return {
    child,
    name,
    logFile: options.logFile,
    exited,
    async stop(graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return waitExit();
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await waitExit();
      clearTimeout(timer);
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      return waitExit();
    },
  };
}

/** The end of a log file, for an error message about a process that failed to start. */
export function logTail(file: string, chars = 3000): string {
  try {
    return readFileSync(file, 'utf8').slice(-chars);
  } catch {
    return '(no log)';
  }
}

/**
 * Waits for `ready` while `proc` runs. If the process exits first, or `ready` fails, stops it and throws (an early
 * exit names `what` and quotes the end of its log).
 */
export async function awaitReady(proc: TrackedProcess, what: string, ready: Promise<unknown>): Promise<void> {
  let settled = false;
  const exited = proc.exited.then((code) => {
    if (!settled) throw new Error(`${what} exited (${code}) before it was ready: ${logTail(proc.logFile)}`);
  });
  try {
    await Promise.race([exited, ready]);
    settled = true;
  } catch (err) {
    settled = true;
    await proc.stop(2000);
    throw err;
  }
}
