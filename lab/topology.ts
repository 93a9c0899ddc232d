// The whole system in network namespaces, for the end-to-end tests, the demo and the end-to-end benchmark:
//
//   client 198.51.100.1 ─┐ client segment 198.51.100.0/24 (VIPs 198.51.100.200-250 are on it: ARP)
//   lb-1 .11  lb-2 .12  lb-3 .13   eth0 on the client segment; the datapath on eth0 and eth1: a real cilium-agent
//                                  (datapath 'cilium', the default) or the test tc program (datapath 'mimic')
//     eth1 10.200.0.11-13 ─┐ backend segment 10.200.0.0/16
//   tenant k's consumer nodes 10.200.k.11, .12, …: each runs a real kube-proxy (nftables mode; iptables when nft
//     is missing) in its namespace, and holds one backend pod: a process in a namespace of its own behind a veth,
//     pod IP 10.(240+k).j.10 from the node's pod CIDR 10.(240+k).j.0/24 (lab/backend-pod.ts)
//
// Control planes: one LB cluster (CRDs, VIPPool, L2Announcement, one ConsumerCluster per tenant) and one
// consumer cluster per tenant (with kube-controller-manager). Programs, each a real process: the allocator and
// one agent per tenant (root namespace, talking to the API servers on loopback), and one speaker per LB node
// inside its namespace (it reaches the LB API server through a relay, lab/api-relay.ts) with its own
// private bpffs: a real agent's pinned maps (lab/cilium-agent.ts), or Cilium-shaped maps for the mimic.
// Consumer side, as in a real cluster: the backend pods are Pod objects (bound to their nodes, status written as a
// kubelet would), kube-controller-manager publishes them in EndpointSlices for the Services that select them, and
// kube-proxy on each node (lab/kube-proxy.ts, reaching its API server through a relay like the
// speakers) serves the NodePorts, externalTrafficPolicy Local and the healthCheckNodePorts the speakers probe.
// Everything is in the ledger; `down()` (or cleanup-stale after a crash) removes it all.
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import type { ConsumerCluster, L2Announcement, VIPClaim, VIPPool } from '../src/api/v1alpha1.ts';
import { PROFILES, type CiliumVersion } from '../src/core/lb4/profile.ts';
import { resourceClient } from '../src/kube/custom-objects.ts';
import { createInformer, type TypedInformer } from '../src/kube/informer.ts';
import { createLogger } from '../src/shared/logger.ts';
import { attachTestDatapath, TEST_DATAPATH_MAGLEV_M } from '../test/datapath/loader.ts';
import type { FlowAnswer, Tally } from '../test/datapath/client-agent.ts';
import { startApiRelay, type ApiRelay } from './api-relay.ts';
import { mountBpffs, type Bpffs } from './bpffs.ts';
import {
  CiliumAgent,
  ciliumBuild,
  installCiliumCrds,
  labCiliumConfig,
  NEWEST_CILIUM_LINE,
  type CiliumBuild,
} from './cilium-agent.ts';
import { createCiliumMaps } from './cilium-maps.ts';
import { freePort, startClusters, type TestCluster } from './controlplane.ts';
import { buildBgpLab, REMOTE_CIDR, ROUTER_FRONT_IP, speakerBgpArgs, type BgpLab } from './bgp-lab.ts';
import type { FrrNode } from './frr.ts';
import type { Ledger } from './ledger.ts';
import { L2Segment, Netns, run, vethPair } from './netns.ts';
import type { BackendSpec } from './backend-pod.ts';
import { runPod, setPodReady } from './consumer-objects.ts';
import { KubeProxy, proxyMode, type ProxyMode } from './kube-proxy.ts';
import { consumerLine, lbLine, type KubernetesLine } from './kubernetes-line.ts';
import { eventually } from './eventually.ts';
import { spawnTracked, type TrackedProcess } from './process.ts';
import { applyWebhookConfigurationAt } from './webhook-configuration.ts';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const CONSUMER_CONTROLLERS = [
  'namespace',
  'garbagecollector',
  'endpointslice',
  'serviceaccount',
  'serviceaccount-token',
];
const RELAY_PORT = 6443;
export const SPEAKER_NAMESPACE = 'kube-lb-system';
export const CLIENT_IP = '198.51.100.1';
export const DEFAULT_POOL = '198.51.100.200-198.51.100.250';
/** Speaker settings for a loaded test machine (see TopologyOptions.speakerDefaults). */
export const TEST_SPEAKER_ARGS: readonly string[] = ['--probe-timeout=1s'];

export interface TenantSpec {
  /** ConsumerCluster name; also the consumer cluster's name. */
  readonly name: string;
  /** Consumer nodes (default 2). */
  readonly nodes?: number;
}

export type Datapath = 'cilium' | 'mimic';

export interface TopologyOptions {
  /** Names the ledger directory and temp dirs. */
  readonly label: string;
  readonly lbNodes?: number;
  readonly tenants?: readonly TenantSpec[];
  /**
   * 'cilium' (default): a real cilium-agent per LB node, of line `ciliumLine` (default the newest). 'mimic': the
   * test tc program on Cilium-shaped maps, laid out as `ciliumVersion` (fast, for narrow tests only).
   */
  readonly datapath?: Datapath;
  readonly ciliumLine?: string;
  readonly ciliumVersion?: CiliumVersion;
  /** Extra Cilium config-dir keys (datapath 'cilium'). */
  readonly ciliumConfig?: Readonly<Record<string, string>>;
  readonly maglev?: boolean;
  readonly pool?: string;
  /** Extra speaker flags (health intervals, lease timing, …); they override the topology's. */
  readonly speakerArgs?: readonly string[];
  /**
   * Run the speakers at the product's defaults. Otherwise the topology lets a peer's heartbeats be silent for
   * 1 s before it counts as dead (the default is tighter): on a loaded 2-core test machine a speaker stalls for
   * half a second often enough to make ownership, and with it the claims' status, flap.
   */
  readonly speakerDefaults?: boolean;
  /** Keep logs here instead of a temp dir removed on down(). */
  readonly logDir?: string;
  /** Progress lines (the demo prints them). */
  readonly progress?: (line: string) => void;
  /**
   * kube-proxy's mode on the consumer nodes (default nftables when `nft` is installed and the consumer line has
   * the mode on by default, 1.31+; else iptables).
   */
  readonly proxyMode?: ProxyMode;
  /**
   * The consumer clusters' Kubernetes line: their kube-apiserver, kube-controller-manager and kube-proxy (default
   * KUBE_LB_CONSUMER_K8S, else the suite's own line; test/compat/lines.json).
   */
  readonly consumerLine?: KubernetesLine;
  /**
   * BGP mode (lab/bgp-lab.ts): a BIRD router between a remote client and the LB nodes, FRR on every LB node, the
   * speakers run with --bgp. The BGP objects (BGPPeer, BGPAdvertisement, BFDProfile) are the test's to create.
   * `bfdIntervalMs`: the router's BFD intervals (default LAB_BFD_INTERVAL_MS).
   */
  readonly bgp?: boolean | { readonly bfdIntervalMs: number };
}

export interface LbNode {
  readonly name: string;
  readonly ns: Netns;
  readonly frontIp: string;
  readonly backendIp: string;
  readonly mac: string;
  readonly bpffs: Bpffs;
  readonly mapDir: string;
  readonly stateSocket: string;
  speaker: TrackedProcess | undefined;
  /** The node's real Cilium agent (datapath 'cilium'). */
  cilium: CiliumAgent | undefined;
  /** FRR beside the speaker (TopologyOptions.bgp). */
  frr: FrrNode | undefined;
}

/** The one backend pod on a consumer node: a Pod object and a process in a namespace of its own. */
export interface BackendPod {
  readonly name: string;
  readonly ns: Netns;
  readonly ip: string;
  process: TrackedProcess | undefined;
  /** What the lab last reported as the Pod's Ready condition. */
  ready: boolean;
}

export interface ConsumerNode {
  readonly name: string;
  readonly ns: Netns;
  readonly ip: string;
  readonly podCidr: string;
  readonly pod: BackendPod;
  kubeProxy: KubeProxy | undefined;
  /** Milliseconds from spawning kube-proxy to its /healthz answering 200, at its last start. */
  kubeProxyStartMs: number | undefined;
}

/** The labels of the backend pods; createService selects them. */
export const BACKEND_LABELS: Readonly<Record<string, string>> = { 'app.kubernetes.io/name': 'kube-lb-lab-backend' };

export interface Tenant {
  readonly name: string;
  readonly index: number;
  readonly tenantNamespace: string;
  readonly cluster: TestCluster;
  readonly core: k8s.CoreV1Api;
  readonly nodes: ConsumerNode[];
  /** What the backend pods listen on (written from the Services that select them). */
  readonly podSpecFile: string;
  readonly backendCidr: string;
  /** The cluster's pod CIDR: 10.(240+k).0.0/16. */
  readonly clusterCidr: string;
  /** The consumer API server, reachable from inside the consumer nodes (kube-proxy). */
  readonly relay: ApiRelay;
  agent: TrackedProcess | undefined;
}

export interface ServicePortSpec {
  readonly name: string;
  readonly protocol: 'TCP' | 'UDP';
  readonly port: number;
}

export interface RequestResult {
  readonly ok: boolean;
  /** The backend pod's answer line, or the error. */
  readonly text: string;
}

type Svc = k8s.V1Service;

function unixGet(socketPath: string, path: string, body?: unknown, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { socketPath, path, method: body === undefined ? 'GET' : 'POST', timeout: timeoutMs },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () =>
          res.statusCode === 200 ? resolve(text) : reject(new Error(`${path}: HTTP ${res.statusCode}: ${text}`)),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${path}: timeout`)));
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

export class Topology {
  readonly ledger: Ledger;
  readonly logDir: string;
  readonly lb: TestCluster;
  readonly lbNodes: LbNode[];
  readonly tenants: Tenant[];
  readonly client: Netns;
  readonly pool: string;
  readonly datapath: Datapath;
  /** The Cilium build the LB nodes run (datapath 'cilium'). */
  readonly cilium: CiliumBuild | undefined;
  /** The router, the remote client and FRR (TopologyOptions.bgp). */
  readonly bgp: BgpLab | undefined;
  readonly #opts: TopologyOptions;
  readonly #relay: ApiRelay;
  readonly #relays = new Map<string, TrackedProcess>();
  readonly #clientSocket: string;
  readonly #cleanups: (() => Promise<void> | void)[];
  readonly #podApps: TypedInformer<Svc>[] = [];
  #nextTargetPort = 20_000;
  #allocator: TrackedProcess | undefined;
  #runs = 0;

  private constructor(init: {
    ledger: Ledger;
    logDir: string;
    lb: TestCluster;
    lbNodes: LbNode[];
    tenants: Tenant[];
    client: Netns;
    opts: TopologyOptions;
    relay: ApiRelay;
    clientSocket: string;
    cleanups: (() => Promise<void> | void)[];
    cilium: CiliumBuild | undefined;
    bgp: BgpLab | undefined;
  }) {
    this.ledger = init.ledger;
    this.logDir = init.logDir;
    this.lb = init.lb;
    this.lbNodes = init.lbNodes;
    this.tenants = init.tenants;
    this.client = init.client;
    this.#opts = init.opts;
    this.pool = init.opts.pool ?? DEFAULT_POOL;
    this.datapath = init.opts.datapath ?? 'cilium';
    this.cilium = init.cilium;
    this.bgp = init.bgp;
    this.#relay = init.relay;
    this.#clientSocket = init.clientSocket;
    this.#cleanups = init.cleanups;
  }

  /** Builds the networks, starts the control planes and every program; resolves when the speakers are ready. */
  static async up(ledger: Ledger, opts: TopologyOptions): Promise<Topology> {
    const say = opts.progress ?? (() => undefined);
    const cleanups: (() => Promise<void> | void)[] = [];
    const undo = async (): Promise<void> => {
      for (const c of cleanups.splice(0).reverse()) {
        try {
          await c();
        } catch {
          // Best effort: the ledger catches the rest.
        }
      }
    };
    try {
      let logDir = opts.logDir;
      if (logDir) mkdirSync(logDir, { recursive: true });
      else {
        const dir = mkdtempSync(join(tmpdir(), `klb-${opts.label}-`));
        ledger.record('dir', dir);
        cleanups.push(() => {
          // KUBE_LB_KEEP_LOGS=DIR keeps every process's log for a post-mortem, as the L2 topology does.
          const keep = process.env.KUBE_LB_KEEP_LOGS;
          if (keep) cpSync(dir, join(keep, `${opts.label}-${process.pid}-${Date.now()}`), { recursive: true });
          rmSync(dir, { recursive: true, force: true });
          ledger.release('dir', dir);
        });
        logDir = dir;
      }
      const tenantSpecs = opts.tenants ?? [{ name: 'c1' }];
      // Resolved first: a missing build fails the run at once, naming what to build, instead of falling back.
      const cilium =
        (opts.datapath ?? 'cilium') === 'cilium' ? ciliumBuild(opts.ciliumLine ?? NEWEST_CILIUM_LINE) : undefined;
      say(
        `starting ${1 + tenantSpecs.length} control planes (LB cluster, ${tenantSpecs.map((t) => t.name).join(', ')})`,
      );
      const clustersP = startClusters(ledger, [
        { name: 'lb', line: lbLine() },
        ...tenantSpecs.map((t) => ({
          name: t.name,
          controllers: CONSUMER_CONTROLLERS,
          installCRDs: false,
          line: opts.consumerLine ?? consumerLine(),
        })),
      ]);
      say('creating network namespaces: client, LB nodes, consumer nodes');
      const net = await buildNetwork(ledger, opts, tenantSpecs, logDir, cleanups);
      const clusters = await clustersP;
      cleanups.push(async () => {
        await Promise.all(clusters.map((c) => c.stop()));
      });
      const lb = clusters[0]!;
      const relay = await startApiRelay(ledger, lb, logDir);
      cleanups.push(() => relay.close());
      const tenants: Tenant[] = [];
      for (const [i, t] of tenantSpecs.entries()) {
        const cluster = clusters[i + 1]!;
        const relayDir = join(logDir, `relay-${t.name}`);
        mkdirSync(relayDir, { recursive: true });
        const tenantRelay = await startApiRelay(ledger, cluster, relayDir);
        cleanups.push(() => tenantRelay.close());
        tenants.push({
          name: t.name,
          index: i + 1,
          tenantNamespace: `tenant-${t.name}`,
          cluster,
          core: cluster.kubeConfig.makeApiClient(k8s.CoreV1Api),
          nodes: net.consumerNodes.get(t.name)!,
          podSpecFile: join(logDir, `pods-${t.name}.json`),
          backendCidr: `10.200.${i + 1}.0/24`,
          clusterCidr: tenantClusterCidr(i + 1),
          relay: tenantRelay,
          agent: undefined,
        });
      }
      const topo = new Topology({
        ledger,
        logDir,
        lb,
        lbNodes: net.lbNodes,
        tenants,
        client: net.client,
        opts,
        relay,
        clientSocket: net.clientSocket,
        cleanups,
        cilium,
        bgp: net.bgp,
      });
      await topo.#configureClusters();
      for (const n of net.lbNodes) {
        const r = await relay.startInNetns(n.ns.name, RELAY_PORT);
        topo.#relays.set(n.name, r);
      }
      if (cilium) {
        say(
          `starting cilium-agent ${cilium.version} on ${net.lbNodes.length} LB nodes (each compiles its datapath: about a minute)`,
        );
        await topo.#startCiliumAgents(cilium);
      }
      const consumerNodes = tenants.flatMap((t) => t.nodes);
      const line = tenants[0]!.cluster.line;
      say(
        `starting kube-proxy ${line.version} (${topo.#proxyMode(line)}) and a backend pod on ${consumerNodes.length} consumer nodes`,
      );
      for (const t of tenants) {
        await topo.#startPodApps(t);
        for (const n of t.nodes) {
          topo.#relays.set(n.name, await t.relay.startInNetns(n.ns.name, RELAY_PORT));
          await topo.startConsumerNode(t.name, n.name);
        }
      }
      say(
        `kube-proxy started (spawn to /healthz 200): ${consumerNodes.map((n) => `${n.name} ${Math.round(n.kubeProxyStartMs ?? 0)} ms`).join(', ')}`,
      );
      say('starting the allocator and the agents');
      await topo.#startAllocator();
      for (const t of tenants) await topo.startAgent(t.name);
      say(`starting ${net.lbNodes.length} speakers in the LB node namespaces`);
      for (const n of net.lbNodes) topo.startSpeaker(n.name);
      for (const n of net.lbNodes) await topo.waitSpeakerReady(n.name);
      await topo.#waitAgentsHeartbeat();
      return topo;
    } catch (err) {
      await undo();
      throw err;
    }
  }

  async down(): Promise<void> {
    for (const p of this.#podApps.splice(0)) await p.stop().catch(() => undefined);
    // Speakers first (graceful: they withdraw their announcements), then everything else in reverse order.
    await Promise.all(this.lbNodes.map((n) => n.speaker?.stop(4000)));
    await Promise.all(this.tenants.map((t) => t.agent?.stop(3000)));
    await this.#allocator?.stop(3000);
    for (const t of this.tenants) {
      for (const n of t.nodes) {
        await n.pod.process?.stop(1000);
        await n.kubeProxy?.process?.stop(3000);
      }
    }
    for (const r of this.#relays.values()) await r.stop(1000);
    for (const c of this.#cleanups.splice(0).reverse()) {
      try {
        await c();
      } catch {
        // Best effort: the ledger catches the rest.
      }
    }
  }

  tenant(name: string): Tenant {
    const t = this.tenants.find((x) => x.name === name);
    if (!t) throw new Error(`no tenant ${name}`);
    return t;
  }

  lbNode(name: string): LbNode {
    const n = this.lbNodes.find((x) => x.name === name);
    if (!n) throw new Error(`no LB node ${name}`);
    return n;
  }

  /** The kubeconfig a speaker in an LB node namespace uses (the relay's address). */
  get speakerKubeconfig(): string {
    return this.#relay.kubeconfigFor(RELAY_PORT);
  }

  // ------------------------------------------------------------------ programs

  /** `extraArgs` come last, so they override (e.g. another --kubeconfig to run with the manifests' RBAC). */
  startSpeaker(name: string, extraArgs: readonly string[] = []): TrackedProcess {
    const n = this.lbNode(name);
    const log = join(this.logDir, `speaker-${name}-${++this.#runs}.log`);
    n.speaker = spawnTracked(
      this.ledger,
      `speaker-${name}`,
      'ip',
      [
        'netns',
        'exec',
        n.ns.name,
        process.execPath,
        join(repoRoot, 'src/speaker/main.ts'),
        `--node-name=${name}`,
        `--kubeconfig=${this.speakerKubeconfig}`,
        `--namespace=${SPEAKER_NAMESPACE}`,
        `--map-dir=${n.mapDir}`,
        ...this.#datapathArgs(n),
        ...(n.frr ? speakerBgpArgs(n.frr) : []),
        `--peer-address=${n.frontIp}`,
        // Signed heartbeats, byes and acks, as the manifests configure them.
        `--peer-key-file=${this.#peerKeyFile()}`,
        `--state-socket=${n.stateSocket}`,
        '--metrics-bind-address=127.0.0.1:9474',
        '--log-level=info',
        ...(this.#opts.speakerDefaults ? [] : TEST_SPEAKER_ARGS),
        ...(this.#opts.speakerArgs ?? []),
        ...extraArgs,
      ],
      { logFile: log, cwd: repoRoot },
    );
    return n.speaker;
  }

  /** The speakers' shared key (the manifests' kube-lb-speaker-peer-key Secret): one per topology, written once. */
  #peerKeyFile(): string {
    const file = join(this.logDir, 'peer-key');
    if (!existsSync(file)) writeFileSync(file, randomBytes(32).toString('hex'), { mode: 0o600 });
    return file;
  }

  /** What the speaker is told about the node's datapath: the real agent's line and configuration, or the mimic's layout. */
  #datapathArgs(n: LbNode): string[] {
    if (n.cilium)
      return [`--cilium-version=${n.cilium.options.build.line}`, `--cilium-config-dir=${n.cilium.configDir}`];
    return [`--cilium-version=${this.#opts.ciliumVersion ?? '1.18'}`, `--cilium-config-dir=${this.#mimicConfigDir()}`];
  }

  /** What a Cilium running the mimic's way would have in its config dir: kube-proxy replacement, SNAT, the algorithm. */
  #mimicConfigDir(): string {
    const dir = join(this.logDir, 'mimic-cilium-config');
    mkdirSync(dir, { recursive: true });
    const config: Record<string, string> = {
      'kube-proxy-replacement': 'true',
      'bpf-lb-mode': 'snat',
      'bpf-lb-algorithm': this.#opts.maglev ? 'maglev' : 'random',
      ...(this.#opts.maglev ? { 'bpf-lb-maglev-table-size': String(TEST_DATAPATH_MAGLEV_M) } : {}),
    };
    for (const [k, v] of Object.entries(config)) writeFileSync(join(dir, k), v);
    return dir;
  }

  async #startCiliumAgents(build: CiliumBuild): Promise<void> {
    installCiliumCrds((args) => this.lb.kubectl(args), build);
    const config = labCiliumConfig(build.line, {
      ...(this.#opts.maglev ? { 'bpf-lb-algorithm': 'maglev' } : {}),
      ...(this.#opts.ciliumConfig ?? {}),
    });
    for (const n of this.lbNodes) {
      n.cilium = CiliumAgent.create({
        ledger: this.ledger,
        build,
        ns: n.ns,
        nodeName: n.name,
        bpffsDir: n.bpffs.dir,
        kubeconfig: this.speakerKubeconfig,
        dir: join(this.logDir, `cilium-${n.name}`),
        devices: ['eth0', 'eth1'],
        config,
      });
      const agent = n.cilium;
      this.#cleanups.push(() => agent.dispose());
      agent.start();
    }
    await Promise.all(this.lbNodes.map((n) => n.cilium!.waitReady()));
  }

  async waitSpeakerReady(name: string, timeoutMs = 90_000): Promise<void> {
    const n = this.lbNode(name);
    await eventually(
      `speaker ${name} ready`,
      async () => {
        const p = n.speaker;
        if (p && p.child.exitCode !== null) throw new Error(`speaker ${name} exited: ${tail(p.logFile)}`);
        return (
          (await unixGet(n.stateSocket, '/readyz').then(
            () => true,
            () => false,
          )) || undefined
        );
      },
      timeoutMs,
      200,
    );
  }

  /** The speaker's /state, parsed. */
  async speakerState(name: string): Promise<SpeakerState> {
    return JSON.parse(await unixGet(this.lbNode(name).stateSocket, '/state')) as SpeakerState;
  }

  /** The speaker's Prometheus metrics, as text. */
  async speakerMetrics(name: string): Promise<string> {
    return unixGet(this.lbNode(name).stateSocket, '/metrics');
  }

  /**
   * Restarts the node's Cilium agent, with `config` (config-dir keys) replacing its configuration when given, and
   * the node's speaker after it, since the speaker reads Cilium's configuration when it starts.
   */
  async restartCilium(name: string, config?: Readonly<Record<string, string>>): Promise<void> {
    const n = this.lbNode(name);
    if (!n.cilium) throw new Error(`${name} runs no Cilium agent (datapath ${this.datapath})`);
    await this.stopSpeaker(name);
    await n.cilium.stop();
    if (config) n.cilium.writeConfig(config);
    n.cilium.start();
    await n.cilium.waitReady();
    this.startSpeaker(name);
    await this.waitSpeakerReady(name);
  }

  async stopSpeaker(name: string): Promise<void> {
    await this.lbNode(name).speaker?.stop(8000);
  }

  /** SIGKILL: no handover; the node's maps and datapath stay, its proxy-ARP entries vanish with the process. */
  async killSpeaker(name: string): Promise<void> {
    await this.lbNode(name).speaker?.kill();
  }

  /**
   * The node dies: its links go down, then its speaker is killed, so it neither answers nor forwards, and nothing
   * it does on the way out (FRR's guard closing the BGP sessions) reaches anyone, as after a power loss.
   */
  async crashNode(name: string): Promise<void> {
    const n = this.lbNode(name);
    await n.ns.ip('link', 'set', 'eth0', 'down');
    await n.ns.ip('link', 'set', 'eth1', 'down');
    await n.speaker?.kill();
  }

  /**
   * Brings a crashed node's links back (its speaker is started separately), and the routes through them: the
   * kernel dropped every route whose next hop was on a link that went down.
   */
  async reviveNode(name: string): Promise<void> {
    const n = this.lbNode(name);
    await n.ns.ip('link', 'set', 'eth0', 'up');
    await n.ns.ip('link', 'set', 'eth1', 'up');
    await n.ns.ip('route', 'replace', 'default', 'via', CLIENT_IP, 'dev', 'eth0');
    if (this.bgp) await n.ns.ip('route', 'replace', REMOTE_CIDR, 'via', ROUTER_FRONT_IP, 'dev', 'eth0');
  }

  consumerNode(tenant: string, node: string): ConsumerNode {
    const n = this.tenant(tenant).nodes.find((x) => x.name === node);
    if (!n) throw new Error(`no node ${node} in ${tenant}`);
    return n;
  }

  /**
   * The node starts serving, as a node coming up does: its kube-proxy starts (and syncs its rules), its backend
   * pod's process starts, and the pod is reported Running and Ready (the kubelet's part), so the EndpointSlices
   * list it as a ready endpoint on this node.
   */
  /** The option's mode, else nftables where the line has it on by default (beta from 1.31); it needs `nft`. */
  #proxyMode(line: KubernetesLine): ProxyMode {
    return this.#opts.proxyMode ?? (line.minor < 31 ? 'iptables' : proxyMode());
  }

  async startConsumerNode(tenant: string, node: string): Promise<void> {
    const t = this.tenant(tenant);
    const n = this.consumerNode(tenant, node);
    n.kubeProxy ??= new KubeProxy({
      ledger: this.ledger,
      binDir: t.cluster.binDir,
      ns: n.ns,
      nodeName: n.name,
      kubeconfig: t.relay.kubeconfigFor(RELAY_PORT),
      clusterCidr: t.clusterCidr,
      dir: this.logDir,
      mode: this.#proxyMode(t.cluster.line),
    });
    n.kubeProxyStartMs = await n.kubeProxy.start();
    const p = spawnTracked(
      this.ledger,
      `pod-${n.pod.name}`,
      'ip',
      ['netns', 'exec', n.pod.ns.name, process.execPath, join(repoRoot, 'lab/backend-pod.ts'), n.name, t.podSpecFile],
      { logFile: join(this.logDir, `${n.pod.name}-${++this.#runs}.log`), cwd: repoRoot },
    );
    n.pod.process = p;
    await eventually(
      `backend pod ${n.pod.name} up`,
      async () => {
        if (p.child.exitCode !== null) throw new Error(`backend pod ${n.pod.name} exited: ${tail(p.logFile)}`);
        return tail(p.logFile).includes('ready') || undefined;
      },
      30_000,
      50,
    ).catch((err: unknown) => {
      // Once seen in CI (no log kept): say what the pod had printed, and whether it was still running.
      throw new Error(
        `${(err as Error).message} (pid ${p.child.pid}, exit ${p.child.exitCode}); its log: ${JSON.stringify(tail(p.logFile))}`,
      );
    });
    const exists = await t.core.readNamespacedPod({ namespace: 'default', name: n.pod.name }).then(
      () => true,
      () => false,
    );
    if (exists) await setPodReady(t.core, 'default', n.pod.name, n.pod.ip, true);
    else
      await runPod(t.core, 'default', n.pod.name, { nodeName: n.name, labels: { ...BACKEND_LABELS }, podIP: n.pod.ip });
    n.pod.ready = true;
  }

  /**
   * The node stops serving, as when it goes down: its pod turns not Ready (its endpoints leave every node's rules:
   * this waits until the other nodes' kube-proxies no longer send flows to it), then the pod's process stops, and
   * its kube-proxy stops and removes its rules, so its NodePorts refuse connections.
   */
  async stopConsumerNode(tenant: string, node: string): Promise<void> {
    const n = this.consumerNode(tenant, node);
    await this.setPodReady(tenant, node, false);
    await n.pod.process?.stop(1000);
    await n.kubeProxy?.stopAndCleanup();
  }

  /**
   * The kubelet's readiness report for the node's backend pod. Not ready: resolves once no running kube-proxy of
   * the tenant forwards to the pod any more; ready: once every running kube-proxy does.
   */
  async setPodReady(tenant: string, node: string, ready: boolean): Promise<void> {
    const t = this.tenant(tenant);
    const n = this.consumerNode(tenant, node);
    await setPodReady(t.core, 'default', n.pod.name, n.pod.ip, ready);
    n.pod.ready = ready;
    const proxies = t.nodes
      .filter((x) => x.kubeProxy?.process && x.kubeProxy.process.child.exitCode === null)
      .map((x) => x.kubeProxy!);
    const services = await this.#servicesSelectingPods(t);
    if (services === 0) return;
    await eventually(
      `every kube-proxy of ${tenant} ${ready ? 'forwarding' : 'no longer forwarding'} to ${n.pod.ip}`,
      async () => {
        const seen = await Promise.all(proxies.map((p) => p.forwardsTo(n.pod.ip)));
        return seen.every((s) => s === ready) || undefined;
      },
      30_000,
      100,
    );
  }

  /**
   * Resolves once every running kube-proxy of the tenant forwards each port of the Service to every ready backend
   * pod (on the port's target port): until then a node that has not synced yet refuses the NodePort.
   */
  async waitProxied(tenant: string, name: string, timeoutMs = 30_000): Promise<void> {
    const t = this.tenant(tenant);
    const svc = await t.core.readNamespacedService({ namespace: 'default', name });
    if (!selectsBackends(svc)) return;
    const targets = (svc.spec?.ports ?? [])
      .map((p) => Number(p.targetPort ?? p.port))
      .filter((p) => Number.isInteger(p));
    const pods = t.nodes.filter((n) => n.pod.ready).map((n) => n.pod.ip);
    const proxies = t.nodes
      .filter((x) => x.kubeProxy?.process && x.kubeProxy.process.child.exitCode === null)
      .map((x) => x.kubeProxy!);
    await eventually(
      `every kube-proxy of ${tenant} forwarding default/${name}`,
      async () => {
        for (const p of proxies)
          for (const ip of pods) for (const port of targets) if (!(await p.forwardsTo(ip, port))) return undefined;
        return true;
      },
      timeoutMs,
      100,
    );
  }

  async #servicesSelectingPods(t: Tenant): Promise<number> {
    const list = await t.core.listServiceForAllNamespaces();
    return list.items.filter((s) => selectsBackends(s)).length;
  }

  async startAgent(tenant: string): Promise<TrackedProcess> {
    const t = this.tenant(tenant);
    const metricsPort = await freePort();
    t.agent = spawnTracked(
      this.ledger,
      `agent-${t.name}`,
      process.execPath,
      [
        join(repoRoot, 'src/agent/main.ts'),
        `--kubeconfig=${t.cluster.kubeconfigPath}`,
        `--lb-kubeconfig=${this.lb.kubeconfigPath}`,
        `--cluster-name=${t.name}`,
        `--tenant-namespace=${t.tenantNamespace}`,
        '--default-class',
        '--leader-elect=false',
        '--debounce=100ms',
        '--heartbeat-period=5s',
        '--request-timeout=5s',
        '--rejection-retry=2s',
        `--metrics-bind-address=127.0.0.1:${metricsPort}`,
        '--log-level=info',
      ],
      { logFile: join(this.logDir, `agent-${t.name}-${++this.#runs}.log`), cwd: repoRoot },
    );
    const p = t.agent;
    await eventually(
      `agent ${t.name}`,
      async () => {
        if (p.child.exitCode !== null) throw new Error(`agent ${t.name} exited: ${tail(p.logFile)}`);
        return (await fetch(`http://127.0.0.1:${metricsPort}/healthz`)).ok;
      },
      60_000,
      200,
    );
    return p;
  }

  /** Stops the allocator (its webhook too: claim writes then go through unchecked, the webhook failing open). */
  async stopAllocator(): Promise<void> {
    await this.#allocator?.stop(3000);
    this.#allocator = undefined;
  }

  async startAllocator(): Promise<void> {
    await this.#startAllocator();
  }

  async #startAllocator(): Promise<void> {
    const [webhookPort, metricsPort] = [await freePort(), await freePort()];
    // The shipped webhook configuration, calling this process instead of the Service; the allocator patches its caBundle.
    await applyWebhookConfigurationAt(this.lb.kubeConfig, `https://127.0.0.1:${webhookPort}/validate`);
    this.#allocator = spawnTracked(
      this.ledger,
      'allocator',
      process.execPath,
      [
        join(repoRoot, 'src/allocator/main.ts'),
        `--kubeconfig=${this.lb.kubeconfigPath}`,
        `--namespace=${SPEAKER_NAMESPACE}`,
        '--leader-elect=false',
        '--status-debounce=200ms',
        `--webhook-bind-address=127.0.0.1:${webhookPort}`,
        `--webhook-url=https://127.0.0.1:${webhookPort}/validate`,
        `--metrics-bind-address=127.0.0.1:${metricsPort}`,
        '--log-level=info',
      ],
      { logFile: join(this.logDir, 'allocator.log'), cwd: repoRoot },
    );
    const p = this.#allocator;
    await eventually(
      'allocator ready',
      async () => {
        if (p.child.exitCode !== null) throw new Error(`allocator exited: ${tail(p.logFile)}`);
        return (await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).ok;
      },
      60_000,
      200,
    );
  }

  async #waitAgentsHeartbeat(): Promise<void> {
    const tenants = resourceClient<ConsumerCluster>(this.lb.kubeConfig, 'ConsumerCluster');
    for (const t of this.tenants) {
      await eventually(
        `agent ${t.name} heartbeat`,
        async () => (await tenants.get(t.name)).status?.lastHeartbeatTime !== undefined,
        60_000,
        200,
      );
    }
  }

  // ------------------------------------------------------------------ cluster objects

  async #configureClusters(): Promise<void> {
    const kc = this.lb.kubeConfig;
    const core = kc.makeApiClient(k8s.CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: SPEAKER_NAMESPACE } } });
    await this.lb.createNodes(
      this.lbNodes.map((n, i) => ({
        name: n.name,
        internalIP: n.frontIp,
        labels: { 'kube-lb.io/lb-node': 'true' },
        podCIDR: `10.100.${i + 1}.0/24`,
      })),
    );
    await resourceClient<VIPPool>(kc, 'VIPPool').create({
      apiVersion: 'kube-lb.io/v1alpha1',
      kind: 'VIPPool',
      metadata: { name: 'default' },
      spec: { addresses: [this.pool], autoAssign: true },
    });
    await resourceClient<L2Announcement>(kc, 'L2Announcement').create({
      apiVersion: 'kube-lb.io/v1alpha1',
      kind: 'L2Announcement',
      metadata: { name: 'client-segment' },
      spec: { interfaces: ['eth0'] },
    });
    for (const t of this.tenants) {
      await core.createNamespace({ body: { metadata: { name: t.tenantNamespace } } });
      await resourceClient<ConsumerCluster>(kc, 'ConsumerCluster').create({
        apiVersion: 'kube-lb.io/v1alpha1',
        kind: 'ConsumerCluster',
        metadata: { name: t.name },
        spec: { tenantNamespace: t.tenantNamespace, allowedBackendCIDRs: [t.backendCidr] },
      });
      await t.cluster.createNodes(t.nodes.map((n) => ({ name: n.name, internalIP: n.ip, podCIDR: n.podCidr })));
    }
  }

  /**
   * The backend pods' configuration: the target port of every Service port that selects them (what a Deployment's
   * container ports and its app's listeners would be). Not a proxy: traffic reaches the pods only through kube-proxy.
   */
  async #startPodApps(t: Tenant): Promise<void> {
    const logger = createLogger({ program: `pods-${t.name}`, level: 'warn' });
    const informer = createInformer<Svc>({
      kubeConfig: t.cluster.kubeConfig,
      path: '/api/v1/services',
      list: () => t.core.listServiceForAllNamespaces(),
      logger,
    });
    const write = (): void => {
      const spec: BackendSpec = {
        services: informer
          .list()
          .filter(selectsBackends)
          .map((s) => ({
            service: `${s.metadata?.namespace}/${s.metadata?.name}`,
            ports: (s.spec?.ports ?? []).flatMap((p) => {
              const target = p.targetPort === undefined ? p.port : Number(p.targetPort);
              return Number.isInteger(target)
                ? [{ port: p.port, protocol: (p.protocol ?? 'TCP') as 'TCP' | 'UDP', targetPort: target }]
                : [];
            }),
          })),
      };
      const tmp = `${t.podSpecFile}.tmp`;
      writeFileSync(tmp, JSON.stringify(spec));
      renameSync(tmp, t.podSpecFile);
    };
    informer.on({ onUpsert: write, onDelete: write });
    write();
    await informer.start();
    await informer.synced;
    write();
    this.#podApps.push(informer);
  }

  // ------------------------------------------------------------------ services and traffic

  /**
   * Creates a LoadBalancer Service selecting the backend pods (one on every node), each port with a target port
   * of its own, so that an answer names the Service port that kube-proxy delivered it for. Resolves once every
   * node's kube-proxy forwards it (waitProxied), unless `opts.waitProxied` is false (timings of the whole path).
   */
  async createService(
    tenant: string,
    name: string,
    ports: readonly ServicePortSpec[],
    extra: Partial<k8s.V1ServiceSpec> = {},
    opts: { waitProxied?: boolean } = {},
  ): Promise<Svc> {
    const svc = await this.tenant(tenant).core.createNamespacedService({
      namespace: 'default',
      body: {
        metadata: { name },
        spec: {
          type: 'LoadBalancer',
          selector: { ...BACKEND_LABELS },
          ports: ports.map((p) => ({
            name: p.name,
            protocol: p.protocol,
            port: p.port,
            targetPort: this.#nextTargetPort++,
          })),
          ...extra,
        },
      },
    });
    if (opts.waitProxied ?? true) await this.waitProxied(tenant, name);
    return svc;
  }

  /** `kubectl get endpointslices` of a tenant's default namespace, as text. */
  kubectlGetEndpointSlices(tenant: string): string {
    return this.tenant(tenant).cluster.kubectl(['get', 'endpointslices', '-n', 'default', '-o', 'wide']);
  }

  async deleteService(tenant: string, name: string): Promise<void> {
    await this.tenant(tenant).core.deleteNamespacedService({ namespace: 'default', name });
  }

  /** The Service's EXTERNAL-IP once the agent wrote it. */
  async waitExternalIP(tenant: string, name: string, timeoutMs = 60_000, everyMs = 50): Promise<string> {
    const core = this.tenant(tenant).core;
    return eventually(
      `EXTERNAL-IP of ${tenant}/default/${name}`,
      async () => {
        const s = await core.readNamespacedService({ namespace: 'default', name });
        return s.status?.loadBalancer?.ingress?.[0]?.ip;
      },
      timeoutMs,
      everyMs,
    );
  }

  /** One request from the client (a new flow each time). */
  async request(
    proto: 'tcp' | 'udp',
    vip: string,
    port: number,
    timeoutMs = 1000,
    from: ClientSide = 'client',
  ): Promise<RequestResult> {
    const tally = JSON.parse(
      await unixGet(
        this.#socket(from),
        '/request',
        { proto, host: vip, port, count: 1, timeoutMs },
        timeoutMs + 10_000,
      ),
    ) as Tally;
    const answer = Object.keys(tally.answers)[0];
    return tally.ok > 0 && answer !== undefined
      ? { ok: true, text: answer }
      : { ok: false, text: tally.lastError ?? 'no answer' };
  }

  /** Requests until one succeeds; returns it (throws after the deadline). */
  async requestUntilOk(
    proto: 'tcp' | 'udp',
    vip: string,
    port: number,
    timeoutMs = 30_000,
    attemptTimeoutMs = 300,
  ): Promise<RequestResult> {
    return eventually(
      `a ${proto} answer from ${vip}:${port}`,
      async () => {
        const r = await this.request(proto, vip, port, attemptTimeoutMs);
        return r.ok ? r : undefined;
      },
      timeoutMs,
      20,
    );
  }

  /** Opens `count` TCP connections to vip:port kept open, each asked once: what each answered. */
  async openFlows(
    vip: string,
    port: number,
    count: number,
    timeoutMs = 2000,
    from: ClientSide = 'client',
  ): Promise<FlowAnswer[]> {
    return JSON.parse(
      await unixGet(this.#socket(from), '/flows/open', { host: vip, port, count, timeoutMs }, timeoutMs + 10_000),
    ) as FlowAnswer[];
  }

  /** One more request on each connection openFlows() left open. */
  async askFlows(timeoutMs = 2000, from: ClientSide = 'client'): Promise<FlowAnswer[]> {
    return JSON.parse(
      await unixGet(this.#socket(from), '/flows/ask', { timeoutMs }, timeoutMs + 10_000),
    ) as FlowAnswer[];
  }

  async closeFlows(from: ClientSide = 'client'): Promise<void> {
    await unixGet(this.#socket(from), '/flows/close', {});
  }

  async startLoop(
    proto: 'tcp' | 'udp',
    vip: string,
    port: number,
    intervalMs = 50,
    timeoutMs = 1000,
    from: ClientSide = 'client',
  ): Promise<void> {
    await unixGet(this.#socket(from), '/loop/start', { proto, host: vip, port, intervalMs, timeoutMs });
  }

  async loop(from: ClientSide = 'client'): Promise<Tally> {
    return JSON.parse(await unixGet(this.#socket(from), '/loop')) as Tally;
  }

  async stopLoop(from: ClientSide = 'client'): Promise<Tally> {
    return JSON.parse(await unixGet(this.#socket(from), '/loop/stop', {})) as Tally;
  }

  /** The agent socket of the client on the LB nodes' segment, or of the remote client behind the BGP router. */
  #socket(from: ClientSide): string {
    if (from === 'client') return this.#clientSocket;
    if (!this.bgp) throw new Error('the remote client exists only with TopologyOptions.bgp');
    return this.bgp.remoteSocket;
  }

  /** The LB node whose MAC the client's neighbour table holds for `vip` (after it talked to it). */
  async arpOwner(vip: string): Promise<string | undefined> {
    const out = await this.client.ip('neigh', 'show', vip, 'dev', 'eth0');
    const mac = /lladdr ([0-9a-f:]{17})/.exec(out)?.[1];
    return this.lbNodes.find((n) => n.mac === mac)?.name;
  }

  /** The node each speaker's L2 side names as the VIP's owner, when they agree. */
  async announcedOwner(vip: string): Promise<string | undefined> {
    const owners = new Set<string | undefined>();
    for (const n of this.lbNodes) {
      if (!n.speaker || n.speaker.child.exitCode !== null || n.speaker.child.signalCode !== null) continue;
      owners.add((await this.speakerState(n.name)).owners[vip]);
    }
    return owners.size === 1 ? [...owners][0] : undefined;
  }

  /** The claim of a consumer Service, from the LB cluster. */
  async claimOf(tenant: string, service: string): Promise<VIPClaim | undefined> {
    const t = this.tenant(tenant);
    const list = await resourceClient<VIPClaim>(this.lb.kubeConfig, 'VIPClaim').list(t.tenantNamespace);
    return list.items.find((c) => c.spec.service.name === service && c.spec.service.namespace === 'default');
  }

  /** `kubectl get svc` of a tenant's default namespace, as text. */
  kubectlGetServices(tenant: string): string {
    return this.tenant(tenant).cluster.kubectl(['get', 'svc', '-n', 'default', '-o', 'wide']);
  }
}

/** What a speaker's /state returns (the part tests read). */
/** Where requests come from: the client on the LB nodes' segment (L2), or the remote one behind the router (BGP). */
export type ClientSide = 'client' | 'remote';

export interface SpeakerState {
  readonly node: string;
  readonly live: readonly string[];
  readonly announcedVIPs: readonly string[];
  readonly owners: Readonly<Record<string, string | undefined>>;
  readonly claims: readonly {
    claim: string;
    vip?: string;
    served: boolean;
    programmed?: boolean;
    ports?: {
      frontend: string;
      selection: string;
      backends: { node: string; address: string; health: string; selected: boolean }[];
    }[];
  }[];
  readonly health: readonly { key: string; state: string }[];
  readonly apiWrites: { claimStatus: number; nodeState: number };
}

/** The consumer cluster pod CIDR of the k-th tenant (1-based); node j's pod CIDR is 10.(240+k).j.0/24. */
function tenantClusterCidr(k: number): string {
  return `10.${240 + k}.0.0/16`;
}

function selectsBackends(s: Svc): boolean {
  const sel = s.spec?.selector ?? {};
  return Object.keys(sel).length > 0 && Object.entries(sel).every(([k, v]) => BACKEND_LABELS[k] === v);
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').slice(-3000);
  } catch {
    return '(no log)';
  }
}

interface Network {
  client: Netns;
  clientSocket: string;
  bgp: BgpLab | undefined;
  lbNodes: LbNode[];
  consumerNodes: Map<string, ConsumerNode[]>;
}

async function buildNetwork(
  ledger: Ledger,
  opts: TopologyOptions,
  tenants: readonly TenantSpec[],
  logDir: string,
  cleanups: (() => Promise<void> | void)[],
): Promise<Network> {
  const front = await L2Segment.create(ledger, 'fr');
  cleanups.push(() => front.destroy());
  const back = await L2Segment.create(ledger, 'bk');
  cleanups.push(() => back.destroy());

  const client = await Netns.create(ledger, 'cl');
  cleanups.push(() => client.destroy());
  await front.attach(client, `${CLIENT_IP}/24`);

  const mimic = opts.datapath === 'mimic';
  const profile = PROFILES[opts.ciliumVersion ?? '1.18'];
  const lbNodes: LbNode[] = [];
  for (let i = 1; i <= (opts.lbNodes ?? 3); i++) {
    const ns = await Netns.create(ledger, `lb${i}`);
    cleanups.push(() => ns.destroy());
    const frontIp = `198.51.100.${10 + i}`;
    const backendIp = `10.200.0.${10 + i}`;
    await front.attach(ns, `${frontIp}/24`, 'eth0');
    await back.attach(ns, `${backendIp}/16`, 'eth1');
    // Forwarding for the datapath's FIB lookups.
    await ns.sysctl('net.ipv4.conf.all.forwarding', 1);
    await ns.sysctl('net.ipv4.conf.eth0.forwarding', 1);
    await ns.sysctl('net.ipv4.conf.eth1.forwarding', 1);
    // The mimic: the node's own connections (health probes) use ports below the ones it SNATs to, so a reply to a
    // probe is never mistaken for a reply to a client flow. Cilium refuses an ephemeral range that ends past its
    // NodePort range (30000-32767) and keeps its own SNAT apart from the node's connections.
    await ns.sysctl('net.ipv4.ip_local_port_range', mimic ? '10000 20000' : '32768 60999');
    // A default route (the L2 side announces on the default-route interface unless told otherwise).
    await ns.addRoute('default', CLIENT_IP, 'eth0');
    const bpffs = mountBpffs(ledger, `lb${i}`);
    cleanups.push(() => bpffs.dispose());
    const mapDir = join(bpffs.dir, 'tc', 'globals');
    // Cilium 1.20 does not create tc/globals itself before its first pin.
    mkdirSync(mapDir, { recursive: true });
    if (mimic) {
      const maps = createCiliumMaps(mapDir, {
        profile,
        ...(opts.maglev ? { maglevTableSize: TEST_DATAPATH_MAGLEV_M } : {}),
      });
      const dp = await attachTestDatapath({ maps, pinDir: bpffs.dir, ns, dev: 'eth0', nodeAddress: backendIp });
      // Replies from the backends come in on eth1: the same program (same conntrack) must see them.
      await ns.exec('tc', 'qdisc', 'add', 'dev', 'eth1', 'clsact');
      await ns.exec(
        'tc',
        'filter',
        'add',
        'dev',
        'eth1',
        'ingress',
        'bpf',
        'direct-action',
        'object-pinned',
        dp.progPath,
      );
      cleanups.push(() => dp.detach());
    }
    lbNodes.push({
      name: `lb-${i}`,
      ns,
      frontIp,
      backendIp,
      mac: await ns.macOf('eth0'),
      bpffs,
      mapDir,
      stateSocket: join(logDir, `speaker-lb-${i}.sock`),
      speaker: undefined,
      cilium: undefined,
      frr: undefined,
    });
  }

  const consumerNodes = new Map<string, ConsumerNode[]>();
  for (const [k, t] of tenants.entries()) {
    const nodes: ConsumerNode[] = [];
    for (let j = 0; j < (t.nodes ?? 2); j++) {
      const ns = await Netns.create(ledger, `${t.name.slice(0, 3)}n${j}`);
      cleanups.push(() => ns.destroy());
      const ip = `10.200.${k + 1}.${11 + j}`;
      await back.attach(ns, `${ip}/16`);
      // The pod: its own namespace behind a veth, the node's end the pod's gateway; the node routes for it.
      const podNet = `10.${240 + k + 1}.${j}`;
      const podNs = await Netns.create(ledger, `${t.name.slice(0, 3)}p${j}`);
      cleanups.push(() => podNs.destroy());
      await vethPair(ns, 'pod0', podNs, 'eth0');
      await ns.addAddress('pod0', `${podNet}.1/24`);
      await ns.up('pod0');
      await podNs.addAddress('eth0', `${podNet}.10/24`);
      await podNs.up('eth0');
      await podNs.addRoute('default', `${podNet}.1`, 'eth0');
      await ns.sysctl('net.ipv4.conf.all.forwarding', 1);
      const name = `${t.name}-${String.fromCharCode(97 + j)}`;
      nodes.push({
        name,
        ns,
        ip,
        podCidr: `${podNet}.0/24`,
        pod: { name: `backend-${name}`, ns: podNs, ip: `${podNet}.10`, process: undefined, ready: false },
        kubeProxy: undefined,
        kubeProxyStartMs: undefined,
      });
    }
    // Pod traffic between nodes: every node routes the others' pod CIDRs to them over the backend segment.
    for (const n of nodes) for (const o of nodes) if (o !== n) await n.ns.addRoute(o.podCidr, o.ip, 'eth0');
    consumerNodes.set(t.name, nodes);
  }

  const startClientAgent = async (ns: Netns, socket: string): Promise<void> => {
    const agent = ns.spawn(
      'client-agent',
      process.execPath,
      [join(repoRoot, 'test/datapath/client-agent.ts'), socket],
      logDir,
    );
    cleanups.push(() => agent.stop(1000));
    await eventually(
      `the client agent in ${ns.name}`,
      async () =>
        existsSync(socket) &&
        (await unixGet(socket, '/loop').then(
          () => true,
          () => false,
        )),
      30_000,
    );
  };
  const clientSocket = join(logDir, 'client.sock');
  await startClientAgent(client, clientSocket);
  const bfdIntervalMs = typeof opts.bgp === 'object' ? opts.bgp.bfdIntervalMs : undefined;
  const bgp = opts.bgp
    ? await buildBgpLab(ledger, front, lbNodes, logDir, startClientAgent, cleanups, bfdIntervalMs)
    : undefined;
  for (const n of lbNodes) n.frr = bgp?.frr.get(n.name);
  return { client, clientSocket, bgp, lbNodes, consumerNodes };
}

export { run, eventually };
