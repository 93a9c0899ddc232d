// Network namespaces as test hosts: a namespace handle, veth links created directly inside their namespaces,
// L2 segments (a bridge in a namespace of its own) and processes started inside a namespace. Nothing is ever
// created in the root namespace except the namespaces themselves, and every namespace is in the ledger, so
// deleting it (or cleanup-stale after a crash) removes its links, addresses and processes with it.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { uniqueName, type Ledger } from './ledger.ts';
import { spawnTracked, type TrackedProcess } from './process.ts';

const execFileAsync = promisify(execFile);

export async function run(cmd: string, args: readonly string[]): Promise<string> {
  try {
    const { stdout } = await execFileAsync(cmd, args, { maxBuffer: 64 << 20 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${e.stderr?.trim() || e.message}`, { cause: err });
  }
}

export class Netns {
  readonly name: string;
  readonly #ledger: Ledger;
  #deleted = false;

  private constructor(ledger: Ledger, name: string) {
    this.#ledger = ledger;
    this.name = name;
  }

  /** A fresh namespace named klb<prefix><random> (at most 15 characters), with loopback up. */
  static async create(ledger: Ledger, prefix: string): Promise<Netns> {
    const name = uniqueName(prefix);
    ledger.record('netns', name);
    await run('ip', ['netns', 'add', name]);
    const ns = new Netns(ledger, name);
    await ns.ip('link', 'set', 'lo', 'up');
    return ns;
  }

  /** Runs a command inside the namespace and returns its stdout. */
  exec(cmd: string, ...args: string[]): Promise<string> {
    return run('ip', ['netns', 'exec', this.name, cmd, ...args]);
  }

  /** `ip -n NAME ...`. */
  ip(...args: string[]): Promise<string> {
    return run('ip', ['-n', this.name, ...args]);
  }

  /** Sets a sysctl of this namespace (net.* sysctls are per namespace; the host's are never touched). */
  async sysctl(key: string, value: string | number): Promise<void> {
    await this.exec('sysctl', '-qw', `${key}=${value}`);
  }

  async addAddress(dev: string, cidr: string): Promise<void> {
    await this.ip('addr', 'add', cidr, 'dev', dev);
  }

  async up(dev: string): Promise<void> {
    await this.ip('link', 'set', dev, 'up');
  }

  async addRoute(destination: string, via: string, dev?: string): Promise<void> {
    await this.ip('route', 'add', destination, 'via', via, ...(dev ? ['dev', dev] : []));
  }

  async macOf(dev: string): Promise<string> {
    const out = await this.ip('-o', 'link', 'show', dev);
    const m = /link\/ether ([0-9a-f:]{17})/.exec(out);
    if (!m) throw new Error(`${this.name}/${dev}: no MAC address`);
    return m[1]!;
  }

  /** Starts a long-running process inside the namespace, logged to `logDir/label.log`, killed with the test. */
  spawn(label: string, cmd: string, args: readonly string[], logDir: string): TrackedProcess {
    return spawnTracked(this.#ledger, label, 'ip', ['netns', 'exec', this.name, cmd, ...args], {
      logFile: join(logDir, `${label}.log`),
    });
  }

  /** Kills what still runs inside and deletes the namespace (and with it its links). */
  async destroy(): Promise<void> {
    if (this.#deleted) return;
    this.#deleted = true;
    const pids = (await run('ip', ['netns', 'pids', this.name]).catch(() => '')).split(/\s+/).filter(Boolean);
    for (const pid of pids) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    await run('ip', ['netns', 'del', this.name]).catch(() => undefined);
    this.#ledger.release('netns', this.name);
  }
}

/**
 * Starts `sh -c script` in `ns`'s network namespace and a private mount namespace of its own (mounts the script
 * makes stay there and go with its processes), logged to `logFile`, tracked in the ledger.
 */
export function spawnInOwnMounts(
  ledger: Ledger,
  ns: Netns,
  label: string,
  script: string,
  logFile: string,
): TrackedProcess {
  const unshare = ['unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', script];
  return spawnTracked(ledger, label, 'nsenter', [`--net=/run/netns/${ns.name}`, '--', ...unshare], { logFile });
}

/** A veth pair with one end in each namespace, both created in place. */
export async function vethPair(a: Netns, aDev: string, b: Netns, bDev: string): Promise<void> {
  await run('ip', ['link', 'add', aDev, 'netns', a.name, 'type', 'veth', 'peer', 'name', bDev, 'netns', b.name]);
}

/**
 * An L2 segment: a bridge in a namespace of its own. `attach` plugs a host in with a veth whose host end is
 * `dev` (default eth0), addressed and up.
 */
export class L2Segment {
  readonly switchNs: Netns;
  #ports = 0;

  private constructor(switchNs: Netns) {
    this.switchNs = switchNs;
  }

  static async create(ledger: Ledger, prefix = 'sw'): Promise<L2Segment> {
    const ns = await Netns.create(ledger, prefix);
    await ns.ip('link', 'add', 'br0', 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0');
    await ns.up('br0');
    return new L2Segment(ns);
  }

  async attach(host: Netns, cidr: string, dev = 'eth0'): Promise<void> {
    const port = `p${this.#ports++}`;
    await vethPair(host, dev, this.switchNs, port);
    await this.switchNs.ip('link', 'set', port, 'master', 'br0', 'up');
    await host.addAddress(dev, cidr);
    await host.up(dev);
  }

  async destroy(): Promise<void> {
    await this.switchNs.destroy();
  }
}
