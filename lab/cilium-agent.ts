// A real cilium-agent (built from the github.com/cilium/cilium Go module by scripts/setup/cilium.sh) as one LB
// node's datapath, confined so that nothing it does reaches the machine:
//   - network: the node's namespace (nsenter --net); sysctls it sets under net.* are that namespace's;
//   - mounts: a private mount namespace with a fresh sysfs, the node's own bpffs at /sys/fs/bpf and no other, a
//     private /run (the agent writes /var/run/cilium whatever its flags say) and /proc/sys read-only except
//     /proc/sys/net (it tries kernel.* sysctls, ignoring failures);
//   - cgroups: --cgroup-root is an empty child cgroup of this run, bind-mounted into the namespace, so its
//     socket-LB hooks attach there and never to the machine's cgroup root (they would intercept every connect()).
// Everything is in the ledger. Configuration goes through a config directory (one file per key, as Kubernetes
// mounts the cilium-config ConfigMap), which the speaker reads too: one source for what the datapath does.
import { execFile, execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { removeCgroup } from './cleanup-stale.ts';
import { eventually } from './eventually.ts';
import { uniqueName, type Ledger } from './ledger.ts';
import { spawnInOwnMounts, type Netns } from './netns.ts';
import type { TrackedProcess } from './process.ts';

const execFileAsync = promisify(execFile);
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const CGROUP2_ROOT = ['/sys/fs/cgroup/unified', '/sys/fs/cgroup'].find((d) => existsSync(join(d, 'cgroup.procs')));

interface LinesFile {
  readonly newest: string;
  readonly lines: Record<
    string,
    {
      readonly module: string;
      readonly config?: Record<string, string>;
      readonly clang: string;
      readonly procModulesShim?: string;
    }
  >;
}

const LINES = JSON.parse(readFileSync(join(repoRoot, 'test/cilium/lines.json'), 'utf8')) as LinesFile;
export const CILIUM_LINES = Object.keys(LINES.lines) as readonly string[];
export const NEWEST_CILIUM_LINE = LINES.newest;

export interface CiliumBuild {
  readonly line: string;
  /** The module version, e.g. "v1.20.2". */
  readonly version: string;
  readonly dir: string;
  readonly agent: string;
  readonly dbg: string;
  readonly libDir: string;
  readonly crdDir: string;
  readonly clang: string;
  /** Why the agent needs a /proc with a modules file (lines.json), if it does. */
  readonly procModulesShim: string | undefined;
}

/** The cached build of a line; throws naming what is missing (a suite never falls back to the mimic). */
export function ciliumBuild(line: string): CiliumBuild {
  const spec = LINES.lines[line];
  if (!spec) throw new Error(`no Cilium line ${line} in test/cilium/lines.json (lines: ${CILIUM_LINES.join(', ')})`);
  let dir: string;
  try {
    dir = execFileSync('bash', [join(repoRoot, 'scripts/setup/cilium.sh'), line], {
      encoding: 'utf8',
      env: { ...process.env, KUBE_LB_CILIUM_NO_BUILD: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    }).trim();
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim();
    throw new Error(`real Cilium ${line} is required and missing: ${stderr || String(err)}`, { cause: err });
  }
  return {
    line,
    version: spec.module,
    dir,
    agent: join(dir, 'cilium-agent'),
    dbg: join(dir, 'cilium-dbg'),
    libDir: join(dir, 'lib'),
    crdDir: join(dir, 'crds'),
    clang: spec.clang,
    procModulesShim: spec.procModulesShim,
  };
}

/** The lab's agent configuration for `line`: the base below, then the line's deltas from lines.json. */
export function labCiliumConfig(line: string, extra: Readonly<Record<string, string>> = {}): Record<string, string> {
  const base: Record<string, string> = {
    'kube-proxy-replacement': 'true',
    'routing-mode': 'native',
    'ipv4-native-routing-cidr': '10.0.0.0/8',
    'enable-ipv4': 'true',
    'enable-ipv6': 'false',
    ipam: 'kubernetes',
    'identity-allocation-mode': 'crd',
    'enable-hubble': 'false',
    'enable-health-checking': 'false',
    'enable-endpoint-health-checking': 'false',
    'enable-l7-proxy': 'false',
    'enable-envoy-config': 'false',
    'bpf-lb-sock': 'false',
    'install-iptables-rules': 'false',
    'enable-ipv4-masquerade': 'false',
    'enable-policy': 'never',
    'cni-exclusive': 'false',
    'bpf-lb-algorithm': 'random',
    'bpf-lb-mode': 'snat',
    'agent-health-require-k8s-connectivity': 'false',
  };
  return { ...base, ...(LINES.lines[line]?.config ?? {}), ...extra };
}

export interface CiliumAgentOptions {
  readonly ledger: Ledger;
  readonly build: CiliumBuild;
  readonly ns: Netns;
  readonly nodeName: string;
  /** The node's private bpffs (mounted at /sys/fs/bpf for the agent). */
  readonly bpffsDir: string;
  /** A kubeconfig that reaches the LB apiserver from inside the namespace. */
  readonly kubeconfig: string;
  /** The agent's own directory (config dir, private /run, logs); created, and removed by dispose(). */
  readonly dir: string;
  /** Devices the datapath attaches to; the first is the client side, the last the backend side. */
  readonly devices: readonly string[];
  /** Config-dir keys (labCiliumConfig). */
  readonly config: Readonly<Record<string, string>>;
}

export class CiliumAgent {
  readonly options: CiliumAgentOptions;
  readonly configDir: string;
  readonly runDir: string;
  readonly cgroup: string;
  readonly logFile: string;
  process: TrackedProcess | undefined;
  /** What the config directory holds now. */
  config: Readonly<Record<string, string>> = {};
  /** Milliseconds from the last start() to waitReady() resolving. */
  readyMs: number | undefined;
  #startedAt = 0;
  #starts = 0;
  #disposed = false;

  private constructor(options: CiliumAgentOptions, cgroup: string) {
    this.options = options;
    this.configDir = join(options.dir, 'config');
    this.runDir = join(options.dir, 'run');
    this.cgroup = cgroup;
    this.logFile = join(options.dir, 'agent.log');
  }

  /** Creates the agent's directory and child cgroup, writes its config and starts it (see waitReady). */
  static create(options: CiliumAgentOptions): CiliumAgent {
    if (!CGROUP2_ROOT) throw new Error('no cgroup2 hierarchy: a lab Cilium agent needs one for --cgroup-root');
    mkdirSync(options.dir, { recursive: true });
    options.ledger.record('dir', options.dir);
    const cgroup = join(CGROUP2_ROOT, uniqueName('-cilium-', 40));
    mkdirSync(cgroup);
    options.ledger.record('cgroup', cgroup);
    const agent = new CiliumAgent(options, cgroup);
    agent.writeConfig(options.config);
    return agent;
  }

  get apiSocket(): string {
    return join(this.runDir, 'cilium', 'cilium.sock');
  }

  get shellSocket(): string {
    return join(this.runDir, 'cilium', 'shell.sock');
  }

  /** Replaces the config directory's contents (takes effect at the next start). */
  writeConfig(config: Readonly<Record<string, string>>): void {
    rmSync(this.configDir, { recursive: true, force: true });
    mkdirSync(this.configDir, { recursive: true });
    for (const [k, v] of Object.entries(config)) writeFileSync(join(this.configDir, k), v);
    this.config = { ...config };
  }

  start(): TrackedProcess {
    const o = this.options;
    // A fresh private /run for each start, as a container restart gets (a stale pid file or socket would confuse it).
    rmSync(this.runDir, { recursive: true, force: true });
    mkdirSync(join(this.runDir, 'cilium'), { recursive: true });
    const cgroupMount = join(o.dir, 'cgroupv2');
    mkdirSync(cgroupMount, { recursive: true });
    const toolDir = join(o.dir, 'bin');
    mkdirSync(toolDir, { recursive: true });
    for (const tool of ['clang', 'llc']) {
      const target = `/usr/bin/${tool}-${o.build.clang}`;
      if (!existsSync(target))
        throw new Error(
          `real Cilium ${o.build.line} needs ${target} (Debian clang-${o.build.clang}/llvm-${o.build.clang})`,
        );
      rmSync(join(toolDir, tool), { force: true });
      execFileSync('ln', ['-s', target, join(toolDir, tool)]);
    }
    const script = [
      'set -e',
      // Mounts below stay in this namespace.
      'mount --make-rprivate /',
      `mount --bind "${this.cgroup}" "${cgroupMount}"`,
      'umount -l /sys',
      'mount -t sysfs sysfs /sys',
      `mount --bind "${o.bpffsDir}" /sys/fs/bpf`,
      // Only this node's bpffs stays visible: Cilium's tools take the first bpffs in /proc/mounts, and other
      // nodes' (or other runs') are mounted on the host too.
      `awk '$3 == "bpf" && $2 != "/sys/fs/bpf" { print $2 }' /proc/mounts | while read -r m; do umount -l "$m"; done`,
      `mount --bind "${this.runDir}" /run`,
      ...procMounts(o.build.procModulesShim ? join(o.dir, 'proc') : '/proc'),
      ...(o.build.procModulesShim ? procModulesShim(join(o.dir, 'proc')) : []),
      `export PATH="${toolDir}:$PATH" K8S_NODE_NAME="${o.nodeName}"`,
      `exec "${o.build.agent}" --config-dir="${this.configDir}" --lib-dir="${o.build.libDir}" --cgroup-root="${cgroupMount}"` +
        ` --k8s-kubeconfig-path="${o.kubeconfig}" --devices="${o.devices.join(',')}" --direct-routing-device="${o.devices[o.devices.length - 1]}"`,
    ].join('\n');
    this.#starts++;
    this.#startedAt = performance.now();
    this.readyMs = undefined;
    writeFileSync(this.logFile, `--- start ${this.#starts}\n`, { flag: 'a' });
    this.process = spawnInOwnMounts(o.ledger, o.ns, `cilium-${o.nodeName}`, script, this.logFile);
    return this.process;
  }

  /**
   * Resolves when the agent reports itself healthy, its lb4 service map is pinned and its datapath is attached to
   * every device (it pins one tcx link per program and device; "OK" alone can come before the attach).
   */
  async waitReady(timeoutMs = 240_000): Promise<void> {
    const p = this.process;
    if (!p) throw new Error('cilium-agent was not started');
    const mapPath = join(this.options.bpffsDir, 'tc', 'globals', 'cilium_lb4_services_v2');
    let ready = false;
    const exited = p.exited.then(() => {
      if (!ready) throw new Error(`cilium-agent on ${this.options.nodeName} exited: ${tail(this.logFile)}`);
    });
    await Promise.race([
      exited,
      eventually(
        `cilium-agent ${this.options.build.version} on ${this.options.nodeName} ready`,
        async () => {
          if (!existsSync(mapPath) || !existsSync(this.apiSocket)) return undefined;
          const links = this.options.devices.map((d) =>
            join(this.options.bpffsDir, 'cilium', 'devices', d, 'links', 'cil_from_netdev'),
          );
          if (!links.every((l) => existsSync(l))) return undefined;
          const out = await this.dbg(['status', '--brief']).catch(() => '');
          return /^OK/m.test(out) || undefined;
        },
        timeoutMs,
        500,
      ),
    ]);
    ready = true;
    this.readyMs = performance.now() - this.#startedAt;
  }

  /**
   * Runs the same version's cilium-dbg in the agent's namespaces (its /sys/fs/bpf is the node's bpffs only, its
   * /run the agent's): cilium-dbg picks the first bpffs in /proc/mounts, and the agent's sockets live there.
   */
  async dbg(args: readonly string[]): Promise<string> {
    const pid = this.process?.child.pid;
    if (pid === undefined) throw new Error('cilium-agent is not running');
    const { stdout } = await execFileAsync(
      'nsenter',
      ['-t', String(pid), '-m', '-n', '--', this.options.build.dbg, ...args],
      {
        maxBuffer: 64 << 20,
        timeout: 60_000,
      },
    );
    return stdout;
  }

  /** The agent's resident memory now, in MiB (VmRSS). */
  rssMiB(): number | undefined {
    const pid = this.process?.child.pid;
    if (pid === undefined) return undefined;
    try {
      const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
      return kb === undefined ? undefined : Number(kb) / 1024;
    } catch {
      return undefined;
    }
  }

  async stop(graceMs = 10_000): Promise<void> {
    await this.process?.stop(graceMs);
  }

  async kill(): Promise<void> {
    await this.process?.kill();
  }

  /** Stops the agent, removes its cgroup and directory (the node's bpffs, with the agent's pins, is the caller's). */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    await this.stop(5000);
    removeCgroup(this.cgroup);
    this.options.ledger.release('cgroup', this.cgroup);
    // KUBE_LB_KEEP_LOGS=DIR keeps the agent's log for a post-mortem, as the topology keeps the others.
    const keep = process.env.KUBE_LB_KEEP_LOGS;
    if (keep && existsSync(this.logFile)) {
      mkdirSync(keep, { recursive: true });
      cpSync(this.logFile, join(keep, `cilium-${this.options.nodeName}-${process.pid}-${Date.now()}.log`));
    }
    rmSync(this.options.dir, { recursive: true, force: true });
    this.options.ledger.release('dir', this.options.dir);
  }
}

/** /proc/sys read-only but for /proc/sys/net (per netns), on the procfs mounted at `proc`. */
function procMounts(proc: string): string[] {
  return [
    ...(proc === '/proc' ? [] : [`mkdir -p "${proc}"`, `mount -t proc proc "${proc}"`]),
    `mount --bind "${proc}/sys" "${proc}/sys"`,
    `mount -o remount,bind,ro "${proc}/sys"`,
    `mount --bind "${proc}/sys/net" "${proc}/sys/net"`,
    `mount -o remount,bind,rw "${proc}/sys/net"`,
  ];
}

/**
 * A /proc that also has an (empty) modules file, for agents that refuse to start without one on a kernel built
 * without loadable modules: a tmpfs of links into the real procfs at `real`. `self` and `thread-self` stay
 * per-reader (they resolve inside procfs); pids that appear later are absent from the listing only.
 */
function procModulesShim(real: string): string[] {
  return [
    'mount -t tmpfs kube-lb-proc /proc',
    `for e in "${real}"/*; do ln -s "$e" "/proc/\${e##*/}"; done`,
    ': > /proc/modules',
  ];
}

/** Installs the line's CRDs (the operator does this in a real cluster; the lab runs no operator). */
export function installCiliumCrds(kubectl: (args: readonly string[]) => string, build: CiliumBuild): void {
  kubectl(['apply', '--server-side', '-f', build.crdDir]);
  kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').slice(-3000);
  } catch {
    return '(no log)';
  }
}
