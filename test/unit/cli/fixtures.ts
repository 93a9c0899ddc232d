// What the CLI commands read, fixed: an LB cluster snapshot for status, a doctor diagnosis, a maps listing and a
// speaker's /state. Shared by the golden-output test and the command tests.
import type { Condition, ConsumerCluster, VIPClaim, VIPPool } from '../../../src/api/v1alpha1.ts';
import type { MapsListing } from '../../../src/cli/maps-list.ts';
import type { SpeakerStateView } from '../../../src/cli/speaker-state.ts';
import type { Diagnosis } from '../../../src/core/doctor/diagnose.ts';
import type { StatusSnapshot } from '../../../src/core/status/summary.ts';

const cond = (type: string, status: 'True' | 'False', reason = type, message = `${type} ${status}`): Condition => ({
  type,
  status,
  reason,
  message,
  lastTransitionTime: '2026-01-01T11:00:00Z',
});
const allTrue = ['Allocated', 'Programmed', 'Announced', 'BackendsHealthy'].map((x) => cond(x, 'True'));

function claim(tenant: string, ns: string, name: string, status: VIPClaim['status']): VIPClaim {
  return {
    apiVersion: 'kube-lb.io/v1alpha1',
    kind: 'VIPClaim',
    metadata: { name: `${ns}.${name}`, namespace: `kube-lb-tenant-${tenant}` },
    spec: {
      service: { cluster: tenant, namespace: ns, name, uid: `uid-${name}` },
      ports: [
        { protocol: 'TCP', port: 80, nodePort: 30080 },
        { protocol: 'UDP', port: 53, nodePort: 30053 },
      ],
      backends: [
        { nodeName: 'node-a', address: '10.200.0.11', ready: true },
        { nodeName: 'node-b', address: '10.200.0.12', ready: true },
      ],
      externalTrafficPolicy: 'Cluster',
    },
    ...(status ? { status } : {}),
  };
}

const claims: VIPClaim[] = [
  claim('shop', 'web', 'front', {
    vip: '198.51.100.10',
    pool: 'public',
    announcedBy: 'lb-2',
    programmedNodes: ['lb-1', 'lb-2', 'lb-3'],
    backendHealth: [
      { address: '10.200.0.11', healthy: true },
      { address: '10.200.0.12', healthy: false },
    ],
    conditions: allTrue,
  }),
  claim('bank', 'pay', 'api', {
    conditions: [cond('Allocated', 'False', 'PoolExhausted', 'pool public has no free address')],
  }),
];

const tenants: ConsumerCluster[] = [
  {
    apiVersion: 'kube-lb.io/v1alpha1',
    kind: 'ConsumerCluster',
    metadata: { name: 'shop' },
    spec: { tenantNamespace: 'kube-lb-tenant-shop', allowedBackendCIDRs: ['10.200.0.0/24'], maxVIPs: 5 },
    status: { vips: 1, lastHeartbeatTime: '2026-01-01T11:59:30Z' },
  },
  {
    apiVersion: 'kube-lb.io/v1alpha1',
    kind: 'ConsumerCluster',
    metadata: { name: 'bank' },
    spec: { tenantNamespace: 'kube-lb-tenant-bank', allowedBackendCIDRs: ['10.201.0.0/24'] },
  },
];

const pools: VIPPool[] = [
  {
    apiVersion: 'kube-lb.io/v1alpha1',
    kind: 'VIPPool',
    metadata: { name: 'public' },
    spec: { addresses: ['198.51.100.10/32'] },
    status: { capacity: 1, allocated: 1 },
  },
];

const status: StatusSnapshot = { claims, tenants, pools, lbNodes: 3, now: new Date('2026-01-01T12:00:00Z') };

const diagnosis: Diagnosis = {
  ready: false,
  profile: '1.20',
  findings: [
    { check: 'bpffs', severity: 'ok', message: '/sys/fs/bpf/tc/globals is on bpffs' },
    {
      check: 'cilium version',
      severity: 'fail',
      message: 'the maps match 1.20, the speaker is told 1.18',
      hint: 'set --cilium-version=auto or 1.20',
    },
    {
      check: 'sysctl net.ipv4.neigh.eth0.proxy_delay',
      severity: 'warn',
      message: 'is 80, wanted 0',
      hint: 'the speaker sets it when it may write /proc/sys',
    },
  ],
};

const listing: MapsListing = {
  dir: '/sys/fs/bpf/tc/globals',
  ciliumVersion: '1.20',
  evidence: ['lb4_services_v2 value layout of 1.20'],
  frontends: [
    {
      frontend: '198.51.100.10:80/TCP',
      scope: 'external',
      serviceId: 4001,
      owner: 'kube-lb',
      flags: ['LoadBalancer'],
      rawFlags: { flags: 8, flags2: 0 },
      count: 2,
      qcount: 0,
      affinityTimeout: undefined,
      backends: [
        { slot: 1, backendId: 9001, address: '10.200.0.11:30080/TCP', state: 'active', active: true },
        { slot: 2, backendId: 9002, address: '10.200.0.12:30080/TCP', state: 'terminating', active: false },
      ],
      reverseNat: '198.51.100.10:80',
      sourceRanges: [],
      maglevTable: undefined,
    },
    {
      frontend: '10.96.0.1:443/TCP',
      scope: 'external',
      serviceId: 1,
      owner: 'other',
      flags: ['ClusterIP'],
      rawFlags: { flags: 0, flags2: 0 },
      count: 0,
      qcount: 0,
      affinityTimeout: undefined,
      backends: [],
      reverseNat: '10.96.0.1:443',
      sourceRanges: [],
      maglevTable: undefined,
    },
  ],
};

const speakerState: SpeakerStateView = {
  node: 'lb-2',
  version: '0.1.0',
  live: ['lb-1', 'lb-2', 'lb-3'],
  announcedVIPs: ['198.51.100.10'],
  claims: [
    {
      claim: 'kube-lb-tenant-shop/web.front',
      vip: '198.51.100.10',
      served: true,
      programmed: true,
      ports: [
        {
          frontend: '198.51.100.10:80/TCP',
          nodePort: 30080,
          selection: 'random',
          backends: [
            { node: 'node-a', address: '10.200.0.11', ready: true, health: 'healthy', selected: true },
            { node: 'node-b', address: '10.200.0.12', ready: true, health: 'unhealthy', selected: false },
          ],
        },
      ],
    },
    { claim: 'kube-lb-tenant-bank/pay.api', served: false, reason: 'NoVIP', message: 'the claim has no VIP yet' },
  ],
  health: [
    { key: '10.200.0.11:30080/TCP', state: 'healthy' },
    {
      key: '10.200.0.12:30080/TCP',
      state: 'unhealthy',
      lastFailure: { failure: 'refused', detail: 'connect ECONNREFUSED' },
    },
  ],
  apiWrites: { claimStatus: 3, nodeState: 1 },
  dataplane: { cilium: '1.20', passes: 42, repairedEntries: 0 },
};

export const cliFixtures = { status, diagnosis, listing, speakerState };

/** A kubeconfig (as JSON text): per name a cluster, a token user (token PREFIX+name) and a context. */
export function kubeconfigText(o: {
  server: string;
  names: readonly string[];
  current?: string;
  tokenPrefix?: string;
  caFile?: string;
}): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: o.names.map((n) => ({
      name: n,
      cluster: { server: o.server, ...(o.caFile ? { 'certificate-authority': o.caFile } : {}) },
    })),
    users: o.names.map((n) => ({ name: n, user: { token: `${o.tokenPrefix ?? ''}${n}` } })),
    contexts: o.names.map((n) => ({ name: n, context: { cluster: n, user: n } })),
    ...(o.current ? { 'current-context': o.current } : {}),
  });
}
