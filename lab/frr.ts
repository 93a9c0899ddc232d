// FRR on a lab "LB node": deploy/frr/frr-guard.sh, unchanged from the speaker Pod's FRR sidecar, runs inside the
// node's network namespace and a private mount namespace of its own, with every path under a per-node directory.
// The host's /etc/frr, /var/run/frr and /var/tmp (where FRR writes its per-process crash-log directories) are
// covered by bind mounts of directories in the node's directory inside that mount namespace, so nothing FRR does
// can reach the host's. The guard is tracked in the ledger; its daemons live in the node's network namespace and go
// with it (Netns.destroy, or cleanup-stale after a crash); the directory is in the ledger too.
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { eventually } from './eventually.ts';
import { componentDir, type Ledger } from './ledger.ts';
import { spawnInOwnMounts, type Netns } from './netns.ts';
import { awaitReady, type TrackedProcess } from './process.ts';

const execFileAsync = promisify(execFile);

export const FRR_GUARD = join(import.meta.dirname, '../deploy/frr/frr-guard.sh');
const FRR_DAEMONS = ['zebra', 'bgpd', 'bfdd'] as const;

export interface FrrNodeOptions {
  readonly ledger: Ledger;
  readonly netns: Netns;
  /** Names the node's directory, log and ledger entry. */
  readonly name: string;
  /** Where the node's directory goes (made traversable for FRR's own user); a fresh one in the ledger by default. */
  readonly dir?: string;
}

export interface FrrNode {
  readonly name: string;
  readonly netns: Netns;
  /** The node's directory: vty/, conf/, work/, the FIFO and frr.log. */
  readonly dir: string;
  /** Where the daemons' vty sockets are (the speaker's `--frr-vty-socket`). */
  readonly vtySocketDir: string;
  /** FRR's own configuration directory (vtysh.conf, the daemons' empty start files). */
  readonly confDir: string;
  /** A directory for the speaker's `Frr` (its frr.conf and frr-reload.py's temporary files). */
  readonly workDir: string;
  /** The FIFO the guard watches (the speaker's `--bgp-alive-fifo`). */
  readonly aliveFifo: string;
  /** Flags that point a speaker at this node's FRR. */
  readonly speakerFlags: readonly string[];
  readonly logFile: string;
  readonly process: TrackedProcess;
  /** Runs vtysh commands against this node's daemons (each one a `-c`) and returns the output. */
  vtysh(...commands: string[]): Promise<string>;
  /** SIGTERM to the guard (it stops the daemons), then removes the directory if this module made it. */
  stop(): Promise<void>;
}

export async function vtyshAt(vtySocketDir: string, confDir: string, commands: readonly string[]): Promise<string> {
  const args = ['--vty_socket', vtySocketDir, '--config_dir', confDir, ...commands.flatMap((c) => ['-c', c])];
  try {
    const { stdout } = await execFileAsync('vtysh', args, { timeout: 10_000, maxBuffer: 16 << 20 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    throw new Error(`vtysh ${args.join(' ')}: ${e.stderr?.trim() || e.stdout?.trim() || e.message}`, { cause: err });
  }
}

export async function startFrrNode(options: FrrNodeOptions): Promise<FrrNode> {
  const { ledger, netns, name } = options;
  const { dir: base, remove: removeDir } = componentDir(ledger, 'klb-frr-', options.dir);
  // The daemons drop to FRR's own user and must reach their sockets below here.
  chmodSync(base, 0o755);
  const dir = join(base, name);
  const vtySocketDir = join(dir, 'vty');
  const confDir = join(dir, 'conf');
  const workDir = join(dir, 'work');
  const aliveFifo = join(dir, 'alive.fifo');
  const logFile = join(dir, 'frr.log');
  for (const d of [dir, confDir, workDir, join(dir, 'etc'), join(dir, 'run'), join(dir, 'var-tmp')])
    mkdirSync(d, { recursive: true, mode: 0o755 });
  chmodSync(dir, 0o755);

  const script = [
    'set -e',
    'mount --make-rprivate /',
    `mount --bind "${join(dir, 'var-tmp')}" /var/tmp`,
    `if [ -d /etc/frr ]; then mount --bind "${join(dir, 'etc')}" /etc/frr; fi`,
    `if [ -d /var/run/frr ]; then mount --bind "${join(dir, 'run')}" /var/run/frr; fi`,
    `exec sh "${FRR_GUARD}" --vty-dir "${vtySocketDir}" --conf-dir "${confDir}" --alive-fifo "${aliveFifo}"`,
  ].join('\n');
  const proc = spawnInOwnMounts(ledger, netns, `frr-${name}`, script, logFile);
  const vtysh = (...commands: string[]): Promise<string> => vtyshAt(vtySocketDir, confDir, commands);

  try {
    await awaitReady(
      proc,
      `frr-guard.sh on ${name}`,
      eventually(
        `FRR on ${name} answering vtysh`,
        async () => {
          if (!FRR_DAEMONS.every((d) => existsSync(join(vtySocketDir, `${d}.vty`)))) return undefined;
          const out = await vtysh('show daemons');
          return FRR_DAEMONS.every((d) => out.includes(d)) || undefined;
        },
        20_000,
        100,
      ),
    );
  } catch (err) {
    removeDir();
    throw err;
  }

  return {
    name,
    netns,
    dir,
    vtySocketDir,
    confDir,
    workDir,
    aliveFifo,
    speakerFlags: [`--frr-vty-socket=${vtySocketDir}`, `--bgp-alive-fifo=${aliveFifo}`],
    logFile,
    process: proc,
    vtysh,
    async stop() {
      await proc.stop(5000);
      removeDir();
    },
  };
}
