// A real kube-proxy per consumer node of the lab topology, built from the same k8s.io/kubernetes module as the
// control plane (scripts/setup/controlplane.sh), running inside the node's network namespace (`ip netns exec`,
// which also gives it the namespace's own /sys) so that its rules, its conntrack cleanup and the net.* sysctls it
// writes stay in that namespace. Its configuration leaves every host-wide setting alone: conntrack maxPerCore,
// min and the timeouts 0 ("leave as is"; nf_conntrack_max is global), oomScoreAdj 0.
//
// Mode: nftables, which drives the kernel through the `nft` command (scripts/setup/packages.sh installs it); without
// it the start fails naming it rather than testing iptables instead. iptables only where asked for (the topology
// does for lines before 1.31).
// It serves, as in any cluster: NodePorts, externalTrafficPolicy Local and each such Service's
// healthCheckNodePort (HTTP /healthz → 200 with localEndpoints when the node has a ready local endpoint, 503
// otherwise), and its own /healthz on :10256 inside the namespace.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventually } from './eventually.ts';
import type { Ledger } from './ledger.ts';
import type { Netns } from './netns.ts';
import { spawnTracked, type TrackedProcess } from './process.ts';

export type ProxyMode = 'nftables' | 'iptables';

export const KUBE_PROXY_HEALTHZ_PORT = 10256;

/** nftables; throws naming the nft command when it is missing. */
export function proxyMode(): ProxyMode {
  try {
    execFileSync('nft', ['--version'], { stdio: 'ignore' });
  } catch (err) {
    throw new Error(
      'the nft command is missing: kube-proxy runs in nftables mode here (scripts/setup/packages.sh installs it)',
      { cause: err },
    );
  }
  return 'nftables';
}

export interface KubeProxyOptions {
  readonly ledger: Ledger;
  /** The directory holding the kube-proxy binary (the control plane's bin dir). */
  readonly binDir: string;
  readonly ns: Netns;
  /** The Node object's name (hostnameOverride): endpoints with this nodeName are local. */
  readonly nodeName: string;
  /** A kubeconfig reachable from inside the namespace (the API relay's). */
  readonly kubeconfig: string;
  /** The consumer cluster's pod CIDR (traffic from outside it is masqueraded for eTP Cluster). */
  readonly clusterCidr: string;
  /** Config file and logs go here. */
  readonly dir: string;
  readonly mode?: ProxyMode;
}

export class KubeProxy {
  readonly options: KubeProxyOptions;
  readonly mode: ProxyMode;
  readonly configFile: string;
  process: TrackedProcess | undefined;
  #runs = 0;

  constructor(options: KubeProxyOptions) {
    this.options = options;
    this.mode = options.mode ?? proxyMode();
    this.configFile = join(options.dir, `kube-proxy-${options.nodeName}.yaml`);
  }

  get binary(): string {
    return join(this.options.binDir, 'kube-proxy');
  }

  get logFile(): string | undefined {
    return this.process?.logFile;
  }

  #writeConfig(): void {
    const o = this.options;
    const config = {
      apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
      kind: 'KubeProxyConfiguration',
      mode: this.mode,
      hostnameOverride: o.nodeName,
      clientConnection: { kubeconfig: o.kubeconfig },
      clusterCIDR: o.clusterCidr,
      detectLocalMode: 'ClusterCIDR',
      healthzBindAddress: `0.0.0.0:${KUBE_PROXY_HEALTHZ_PORT}`,
      metricsBindAddress: '127.0.0.1:10249',
      oomScoreAdj: 0,
      conntrack: {
        maxPerCore: 0,
        min: 0,
        tcpEstablishedTimeout: '0s',
        tcpCloseWaitTimeout: '0s',
        udpTimeout: '0s',
        udpStreamTimeout: '0s',
      },
    };
    writeFileSync(this.configFile, JSON.stringify(config, null, 2));
  }

  /** Starts the process; resolves with the milliseconds from spawn to its /healthz answering 200 (rules synced). */
  async start(timeoutMs = 60_000): Promise<number> {
    const o = this.options;
    this.#writeConfig();
    const started = performance.now();
    const p = spawnTracked(
      o.ledger,
      `kube-proxy-${o.nodeName}`,
      'ip',
      ['netns', 'exec', o.ns.name, this.binary, `--config=${this.configFile}`, '--v=1'],
      { logFile: join(o.dir, `kube-proxy-${o.nodeName}-${++this.#runs}.log`) },
    );
    this.process = p;
    await eventually(
      `kube-proxy on ${o.nodeName} healthy`,
      async () => {
        if (p.child.exitCode !== null)
          throw new Error(`kube-proxy on ${o.nodeName} exited ${p.child.exitCode}; log ${p.logFile}`);
        return (await this.healthz()) === 200 || undefined;
      },
      timeoutMs,
      100,
    );
    return performance.now() - started;
  }

  /** kube-proxy's own /healthz status code inside the namespace (0: no answer). */
  async healthz(): Promise<number> {
    return this.httpStatus(`http://127.0.0.1:${KUBE_PROXY_HEALTHZ_PORT}/healthz`);
  }

  /** GET `url` from inside the node's namespace: the status code (0 when nothing answered) and the body. */
  async get(url: string): Promise<{ status: number; body: string }> {
    const out = await this.options.ns.exec('curl', '-s', '-m', '2', '-w', '\n%{http_code}', url).catch(() => '\n0');
    const cut = out.lastIndexOf('\n');
    return { status: Number(out.slice(cut + 1)) || 0, body: out.slice(0, cut) };
  }

  async httpStatus(url: string): Promise<number> {
    return (await this.get(url)).status;
  }

  /** Whether any of its NAT rules sends flows to `ip` (on `port`, or any port): a ready endpoint in the cluster. */
  async forwardsTo(ip: string, port?: number): Promise<boolean> {
    const ns = this.options.ns;
    const rules =
      this.mode === 'nftables' ? await ns.exec('nft', 'list', 'ruleset') : await ns.exec('iptables-save', '-t', 'nat');
    return new RegExp(`(dnat to |--to-destination )${ip.replaceAll('.', '\\.')}:${port ?? '\\d+'}(?!\\d)`).test(rules);
  }

  /**
   * Stops the process and removes every rule it wrote (`kube-proxy --cleanup`), as when the node's kube-proxy is
   * gone for good: its NodePorts close.
   */
  async stopAndCleanup(): Promise<void> {
    await this.process?.stop(3000);
    await this.options.ns.exec(this.binary, '--cleanup', `--proxy-mode=${this.mode}`).catch(() => undefined);
  }
}
