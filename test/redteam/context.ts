// The red team's world: the real topology (LB nodes in network namespaces running real Cilium, real control
// planes), a victim tenant (c2) with a Service carrying traffic, an attacker tenant (c1), and the credentials each
// attacker really holds:
//  - a tenant's token: its agent's ServiceAccount in its tenant namespace, with deploy/tenant/agent-rbac.yaml;
//  - the speaker's token: kube-lb-speaker with deploy/kube-lb-cluster/11-speaker-rbac.yaml and the admission
//    policies of 12-speaker-policies.yaml (the speakers themselves run with it, so the refusals below are checked
//    against a fleet that works under them);
//  - a consumer agent's token: kube-lb-agent in the consumer cluster, deploy/lb-consumer-cluster;
//  - a host on the client segment: packets from the client's network namespace, nothing else.
// What "no collateral" means is one snapshot (snapshot()): Cilium's own listing of its lb4 maps on every LB node,
// which node answers ARP for every VIP and who each node sees live, the victim's traffic, and the objects no attack
// may change (pools, tenants, claims' VIPs, Leases' holders, Secrets, admission configuration, consumer Services).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import type { ConsumerCluster, L2Announcement, VIPClaim, VIPClaimSpec, VIPPool } from '../../src/api/v1alpha1.ts';
import { apiStatus } from '../../src/kube/client.ts';
import { resourceClient } from '../../src/kube/custom-objects.ts';
import { applyYaml, serviceAccountKubeconfig, tenantRbac } from '../support/agent-env.ts';
import { SERVICE_POLICY_FILE } from '../support/agent-service-policy.ts';
import { eventually } from '../../lab/eventually.ts';
import type { Ledger } from '../../lab/ledger.ts';
import { SPEAKER_NAMESPACE, Topology } from '../../lab/topology.ts';

const root = join(import.meta.dirname, '../..');

/** Who makes an attack, with what they would really hold. */
export type Credential =
  | 'tenant token'
  | 'speaker token'
  | 'allocator token'
  | 'consumer agent token'
  | 'client segment'
  | 'operator mistake'
  | 'faulty allocator';

export interface Outcome {
  /** Refused, or without effect. */
  readonly blocked: boolean;
  /** What refused it or showed it had no effect (an admission message, a condition, a listing). */
  readonly evidence: string;
}

export interface Attack {
  /** Kebab-case, unique: how the report names it. */
  readonly name: string;
  readonly credential: Credential;
  /** The item of issue 12 it covers, in a few words. */
  readonly covers: string;
  run(rt: RedTeam): Promise<Outcome>;
  /** Undoes what the attack left behind, whether or not it was blocked. */
  cleanup?(rt: RedTeam): Promise<void>;
}

/** The outcome of an API call made with an attacker's credentials. */
export type CallResult =
  | { readonly refused: true; readonly code: number | undefined; readonly message: string }
  | { readonly refused: false };

/** What an attack must leave as it found it: key → value. */
export type Snapshot = ReadonlyMap<string, string>;

export const ATTACKER = 'c1';
export const VICTIM = 'c2';

export class RedTeam {
  readonly topo: Topology;
  /** The attacker tenant's agent credentials on the LB cluster. */
  readonly tenantKc: k8s.KubeConfig;
  /** The speakers' ServiceAccount token on the LB cluster. */
  readonly speakerKc: k8s.KubeConfig;
  /** The allocator's ServiceAccount token on the LB cluster (deploy/kube-lb-cluster/10-allocator-rbac.yaml). */
  readonly allocatorKc: k8s.KubeConfig;
  /** The attacker's consumer cluster agent credentials (in the consumer cluster). */
  readonly consumerAgentKc: k8s.KubeConfig;
  readonly victimVip: string;
  readonly ownVip: string;
  /** The speakers' shared key file (the Secret kube-lb-speaker-peer-key), for simulating a captured datagram. */
  readonly peerKeyFile: string;
  /** What the speakers run with on top of the topology's arguments (for restarting one). */
  readonly speakerArgs: readonly string[];

  private constructor(init: {
    topo: Topology;
    tenantKc: k8s.KubeConfig;
    speakerKc: k8s.KubeConfig;
    allocatorKc: k8s.KubeConfig;
    consumerAgentKc: k8s.KubeConfig;
    victimVip: string;
    ownVip: string;
    speakerArgs: readonly string[];
  }) {
    this.topo = init.topo;
    this.tenantKc = init.tenantKc;
    this.speakerKc = init.speakerKc;
    this.allocatorKc = init.allocatorKc;
    this.consumerAgentKc = init.consumerAgentKc;
    this.victimVip = init.victimVip;
    this.ownVip = init.ownVip;
    this.peerKeyFile = join(init.topo.logDir, 'peer-key');
    this.speakerArgs = init.speakerArgs;
  }

  /** `logDir`: where every program's log goes, kept after the run (default: a temporary directory, removed). */
  static async up(ledger: Ledger, say: (line: string) => void = () => undefined, logDir?: string): Promise<RedTeam> {
    const topo = await Topology.up(ledger, {
      label: 'redteam',
      ...(logDir ? { logDir } : {}),
      lbNodes: 2,
      tenants: [
        { name: ATTACKER, nodes: 1 },
        { name: VICTIM, nodes: 1 },
      ],
      progress: say,
    });
    try {
      return await RedTeam.#arm(topo, say);
    } catch (err) {
      await topo.down();
      throw err;
    }
  }

  static async #arm(topo: Topology, say: (line: string) => void): Promise<RedTeam> {
    const lb = topo.lb;
    say("arming: the manifests' RBAC and admission policies, and each attacker's credentials");
    for (const t of topo.tenants) await applyYaml(lb.kubeConfig, tenantRbac(t.name, t.tenantNamespace));
    for (const f of [
      '10-allocator-rbac.yaml',
      '11-speaker-rbac.yaml',
      '12-speaker-policies.yaml',
      '13-backend-deny-list.yaml',
    ]) {
      await applyYaml(lb.kubeConfig, readFileSync(join(root, 'deploy/kube-lb-cluster', f), 'utf8'));
    }
    // Map exhaustion is tried against a small budget so it is cheap to reach: the rule is the same at the default.
    const tenants = resourceClient<ConsumerCluster>(lb.kubeConfig, 'ConsumerCluster');
    // Read-modify-write with retries: the allocator writes the ConsumerCluster's status meanwhile (a plain replace
    // lost that race once with a 409).
    await tenants.update(ATTACKER, undefined, (cur) => ({
      ...cur,
      spec: { ...cur.spec!, maxVIPs: 8, limits: { backendEntries: 64 } },
    }));

    const tenantKc = loadKubeconfig(
      await serviceAccountKubeconfig(lb, topo.tenant(ATTACKER).tenantNamespace, 'kube-lb-agent'),
    );
    const speakerKcPath = await serviceAccountKubeconfig(lb, SPEAKER_NAMESPACE, 'kube-lb-speaker');
    const speakerKc = loadKubeconfig(speakerKcPath);
    const allocatorKc = loadKubeconfig(await serviceAccountKubeconfig(lb, SPEAKER_NAMESPACE, 'kube-lb-allocator'));
    // The speakers run with the same token, through the relay their namespaces reach the apiserver by; their
    // metrics listen on every address as the DaemonSet's do (behind TokenReview), and their Leases last long
    // enough that forged heartbeats, if believed, would visibly hide a dead node.
    const relay = JSON.parse(readFileSync(topo.speakerKubeconfig, 'utf8')) as {
      users: Array<{ user: Record<string, unknown> }>;
    };
    const token = speakerKc.getCurrentUser()?.token;
    for (const u of relay.users) u.user = { token };
    const kubeconfig = join(topo.logDir, 'speaker-sa.kubeconfig.json');
    writeFileSync(kubeconfig, JSON.stringify(relay), { mode: 0o600 });
    const speakerArgs = [`--kubeconfig=${kubeconfig}`, '--metrics-bind-address=0.0.0.0:9474', '--lease-duration=10s'];
    for (const n of topo.lbNodes) {
      await topo.stopSpeaker(n.name);
      topo.startSpeaker(n.name, speakerArgs);
    }
    for (const n of topo.lbNodes) await topo.waitSpeakerReady(n.name);

    const consumer = topo.tenant(ATTACKER).cluster;
    for (const f of ['00-namespace.yaml', '10-agent-rbac.yaml'])
      await applyYaml(consumer.kubeConfig, readFileSync(join(root, 'deploy/lb-consumer-cluster', f), 'utf8'));
    // The optional Service policy, as an operator sharing the fleet with strangers applies it; its served-Service
    // rule edited for agents run with --default-class, as the file says (the lab's agents are).
    const policy = readFileSync(join(root, SERVICE_POLICY_FILE), 'utf8').replace(
      "object.spec.?loadBalancerClass.orValue('') == 'kube-lb.io/vip'",
      "object.spec.?loadBalancerClass.orValue('kube-lb.io/vip') == 'kube-lb.io/vip'",
    );
    if (!policy.includes("orValue('kube-lb.io/vip') == 'kube-lb.io/vip'"))
      throw new Error(
        `${SERVICE_POLICY_FILE}: the served-Service rule moved; update the red team's default-class edit`,
      );
    await applyYaml(consumer.kubeConfig, policy);
    const consumerAgentKc = loadKubeconfig(await serviceAccountKubeconfig(consumer, 'kube-lb-system', 'kube-lb-agent'));

    say("the victim's Service and the attacker's own, both carrying traffic");
    await topo.createService(VICTIM, 'victim', [{ name: 'http', protocol: 'TCP', port: 80 }]);
    await topo.createService(ATTACKER, 'own', [{ name: 'http', protocol: 'TCP', port: 80 }]);
    const victimVip = await topo.waitExternalIP(VICTIM, 'victim');
    const ownVip = await topo.waitExternalIP(ATTACKER, 'own');
    await topo.requestUntilOk('tcp', victimVip, 80, 60_000);
    await topo.requestUntilOk('tcp', ownVip, 80, 60_000);
    // The attacker replaces its agent with its own tooling, holding the same token: the real agent would delete
    // the hand-written claims below as orphans (no Service of theirs) before anyone judged them.
    await topo.tenant(ATTACKER).agent?.stop(3000);
    return new RedTeam({ topo, tenantKc, speakerKc, allocatorKc, consumerAgentKc, victimVip, ownVip, speakerArgs });
  }

  async down(): Promise<void> {
    await this.topo.down();
  }

  get attackerNamespace(): string {
    return this.topo.tenant(ATTACKER).tenantNamespace;
  }

  /** The claims API as the attacker tenant's agent sees it. */
  get tenantClaims() {
    return resourceClient<VIPClaim>(this.tenantKc, 'VIPClaim');
  }

  get adminClaims() {
    return resourceClient<VIPClaim>(this.topo.lb.kubeConfig, 'VIPClaim');
  }

  /** A claim as the attacker's agent would write it, in the attacker's namespace, with `spec` laid over. */
  claim(name: string, spec: Partial<VIPClaimSpec> = {}): VIPClaim {
    const node = this.topo.tenant(ATTACKER).nodes[0]!;
    return {
      apiVersion: 'kube-lb.io/v1alpha1',
      kind: 'VIPClaim',
      metadata: {
        name: `redteam.${name}`,
        namespace: this.attackerNamespace,
        labels: { 'kube-lb.io/cluster': ATTACKER },
      },
      spec: {
        service: { cluster: ATTACKER, namespace: 'redteam', name, uid: `redteam-${name}` },
        ports: [{ protocol: 'TCP', port: 8080, nodePort: 30880 }],
        backends: [{ nodeName: node.name, address: node.ip, ready: true }],
        externalTrafficPolicy: 'Cluster',
        ...spec,
      },
    };
  }

  /** Deletes the attacker's red-team claims (name prefix redteam.) and waits until they are gone. */
  async deleteRedTeamClaims(): Promise<void> {
    const ns = this.attackerNamespace;
    const mine = (await this.adminClaims.list(ns)).items.filter((c) => c.metadata.name?.startsWith('redteam.'));
    for (const c of mine) await this.adminClaims.delete(c.metadata.name!, ns).catch(() => undefined);
    await eventually(
      "the red team's claims deleted",
      async () => {
        const left = (await this.adminClaims.list(ns)).items.filter((c) => c.metadata.name?.startsWith('redteam.'));
        return left.length === 0 || undefined;
      },
      60_000,
      200,
    );
  }

  /** The attacker's claim as the LB cluster holds it (admin read: the attacker's own view is the same). */
  async readClaim(name: string): Promise<VIPClaim | undefined> {
    return this.adminClaims.get(`redteam.${name}`, this.attackerNamespace).catch(() => undefined);
  }

  /** Cilium's own listing of its lb4 maps (`cilium-dbg bpf lb list`), one sorted array of lines per LB node. */
  async ciliumListing(): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    for (const n of this.topo.lbNodes) {
      const text = await n.cilium!.dbg(['bpf', 'lb', 'list']);
      out.set(
        n.name,
        text
          .split('\n')
          .map((l) => l.trim().replace(/\s+/g, ' '))
          .filter((l) => /^\d/.test(l))
          .sort(),
      );
    }
    return out;
  }

  /** Rows of Cilium's listing, on any LB node, of a frontend on `vip` whose backend is `address`. */
  async ciliumSlotsToward(vip: string | undefined, address: string): Promise<string[]> {
    if (!vip) return [];
    const rows: string[] = [];
    for (const [node, lines] of await this.ciliumListing()) {
      for (const l of lines)
        if (
          l.startsWith(`${vip}:`) &&
          l
            .split(' ')
            .slice(1)
            .some((w) => w.startsWith(`${address}:`))
        )
          rows.push(`${node}: ${l}`);
    }
    return rows;
  }

  /** Whether the victim's VIP answers now. */
  async victimServes(): Promise<boolean> {
    return (await this.topo.request('tcp', this.victimVip, 80, 1000)).ok;
  }

  async snapshot(): Promise<Snapshot> {
    const s = new Map<string, string>();
    for (const [node, lines] of await this.ciliumListing())
      for (const l of lines) s.set(`cilium ${node}: ${l}`, 'present');
    const owners = new Map<string, string>();
    for (const n of this.topo.lbNodes) {
      const state = await this.topo.speakerState(n.name);
      s.set(`live ${n.name}`, [...state.live].sort().join(','));
      for (const [vip, owner] of Object.entries(state.owners))
        owners.set(vip, `${owners.get(vip) ?? ''}${n.name}=${owner ?? '-'} `);
    }
    for (const [vip, who] of owners) s.set(`l2 owner of ${vip}`, who.trim());
    s.set('victim traffic', (await this.victimServes()) ? 'answers' : 'silent');

    const kc = this.topo.lb.kubeConfig;
    const json = (o: unknown): string => JSON.stringify(o ?? null);
    for (const p of (await resourceClient<VIPPool>(kc, 'VIPPool').list()).items)
      s.set(`VIPPool ${p.metadata.name}`, json(p.spec));
    for (const c of (await resourceClient<ConsumerCluster>(kc, 'ConsumerCluster').list()).items)
      s.set(`ConsumerCluster ${c.metadata.name}`, json(c.spec));
    for (const a of (await resourceClient<L2Announcement>(kc, 'L2Announcement').list()).items)
      s.set(`L2Announcement ${a.metadata.name}`, json(a.spec));
    for (const c of (await this.adminClaims.list()).items) {
      if (c.metadata.name?.startsWith('redteam.')) continue;
      const key = `VIPClaim ${c.metadata.namespace}/${c.metadata.name}`;
      s.set(`${key} vip`, `${c.status?.vip ?? '-'} ${c.status?.pool ?? '-'}`);
      // The attacker's own claims are its agent's to change; everyone else's spec is not.
      if (c.metadata.namespace !== this.attackerNamespace) s.set(`${key} spec`, json(c.spec));
    }
    const coord = kc.makeApiClient(k8s.CoordinationV1Api);
    for (const l of (await coord.listNamespacedLease({ namespace: SPEAKER_NAMESPACE })).items)
      s.set(`Lease ${l.metadata?.name}`, l.spec?.holderIdentity ?? '-');
    const core = kc.makeApiClient(k8s.CoreV1Api);
    for (const n of (await core.listNamespace()).items) s.set(`Namespace ${n.metadata?.name}`, 'present');
    for (const x of (await core.listNamespacedSecret({ namespace: SPEAKER_NAMESPACE })).items)
      s.set(`Secret ${x.metadata?.name}`, x.metadata?.resourceVersion ?? '');
    const adm = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
    for (const w of (await adm.listValidatingWebhookConfiguration()).items)
      s.set(
        `ValidatingWebhookConfiguration ${w.metadata?.name}`,
        json(w.webhooks?.map((h) => [h.name, h.rules, h.failurePolicy])),
      );
    for (const p of (await adm.listValidatingAdmissionPolicy()).items)
      s.set(`ValidatingAdmissionPolicy ${p.metadata?.name}`, String(p.metadata?.generation));
    for (const t of this.topo.tenants) {
      for (const svc of (await t.core.listNamespacedService({ namespace: 'default' })).items) {
        s.set(
          `Service ${t.name}/default/${svc.metadata?.name}`,
          json({
            spec: { ...svc.spec, clusterIPs: undefined },
            lb: svc.status?.loadBalancer,
            finalizers: svc.metadata?.finalizers,
          }),
        );
      }
    }
    return s;
  }

  /** What differs between two snapshots, one line per key. */
  static diff(before: Snapshot, after: Snapshot): string[] {
    const out: string[] = [];
    for (const [k, v] of before)
      if (after.get(k) !== v) out.push(after.has(k) ? `${k}: ${v} → ${after.get(k)}` : `${k}: gone`);
    for (const [k, v] of after) if (!before.has(k)) out.push(`${k}: new (${v})`);
    return out;
  }

  /**
   * Waits for the world to be back as `before` (cleanup and reprogramming take a moment); what still differs
   * after `timeoutMs` is collateral.
   */
  async collateral(before: Snapshot, timeoutMs = 30_000): Promise<string[]> {
    const deadline = performance.now() + timeoutMs;
    let diff: string[] = [];
    for (;;) {
      diff = RedTeam.diff(before, await this.snapshot());
      if (diff.length === 0 || performance.now() > deadline) return diff;
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  /** Runs an API call made with an attacker's credentials: refused (with the apiserver's message) or not. */
  static async call(op: () => Promise<unknown>): Promise<CallResult> {
    try {
      await op();
      return { refused: false };
    } catch (err) {
      const code = apiStatus(err);
      if (code === undefined) throw err;
      const body = (err as { body?: unknown }).body;
      const message =
        typeof body === 'string'
          ? (tryMessage(body) ?? body)
          : String((body as { message?: string } | undefined)?.message ?? err);
      return { refused: true, code, message };
    }
  }
}

function tryMessage(body: string): string | undefined {
  try {
    return (JSON.parse(body) as { message?: string }).message;
  } catch {
    return undefined;
  }
}

function loadKubeconfig(path: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(path);
  return kc;
}
