// The agent's flags (and environment variables), declared once; `node src/agent/main.ts --help` lists them.
import type { OptionSpec } from '../shared/config.ts';
import { bindAddressOption } from '../shared/host-port.ts';
import { leaderElectionOptions, PROGRAM_OPTIONS } from '../shared/program.ts';

// ConsumerCluster names end up in label values (kube-lb.io/cluster): at most 63 characters.
const LABEL_VALUE = /^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$/;

export const AGENT_OPTIONS = {
  kubeconfig: { kind: 'string', help: 'Kubeconfig of the consumer cluster (unset: in-cluster service account)' },
  'lb-kubeconfig': {
    kind: 'string',
    env: 'KUBE_LB_LB_KUBECONFIG',
    help: 'Kubeconfig file for the LB cluster (usually a Secret mounted as a file)',
  },
  'lb-kubeconfig-secret': {
    kind: 'string',
    env: 'KUBE_LB_LB_KUBECONFIG_SECRET',
    help: 'Read the LB kubeconfig from this consumer-cluster Secret instead, as NAMESPACE/NAME (key "kubeconfig"; needs get on that Secret)',
    check: (v: string) => (/^[a-z0-9-]+\/[a-z0-9.-]+$/.test(v) ? undefined : 'must be NAMESPACE/NAME'),
  },
  'cluster-name': {
    kind: 'string',
    env: 'KUBE_LB_CLUSTER_NAME',
    required: true,
    help: "This cluster's ConsumerCluster name in the LB cluster",
    check: (v: string) => (LABEL_VALUE.test(v) ? undefined : 'must be a lowercase DNS name of at most 63 characters'),
  },
  'tenant-namespace': {
    kind: 'string',
    env: 'KUBE_LB_TENANT_NAMESPACE',
    required: true,
    help: "The ConsumerCluster's tenant namespace in the LB cluster, where the claims live",
  },
  'default-class': {
    kind: 'bool',
    default: false,
    help: 'Also serve LoadBalancer Services that set no loadBalancerClass (kube-lb is the default implementation)',
  },
  debounce: {
    kind: 'duration',
    default: 1000,
    min: 0,
    max: 60_000,
    help: 'Window that batches Node and EndpointSlice changes into one claim update (Service changes are immediate)',
  },
  'heartbeat-period': {
    kind: 'duration',
    default: 30_000,
    min: 1000,
    help: 'How often to report to the ConsumerCluster status',
  },
  resync: {
    kind: 'duration',
    default: 300_000,
    min: 0,
    help: 'Re-check every Service and claim this often (0: never)',
  },
  'request-timeout': { kind: 'duration', default: 10_000, min: 500, help: 'Deadline of each API request' },
  'rejection-retry': {
    kind: 'duration',
    default: 60_000,
    min: 1000,
    help: 'After the LB cluster rejects a claim (validation, admission, quota), wait this long before sending the same claim again',
  },
  concurrency: {
    kind: 'int',
    default: 16,
    min: 1,
    max: 64,
    help: 'Services reconciled in parallel (the work is API round trips, not CPU)',
  },
  'leader-election-namespace': {
    kind: 'string',
    env: 'POD_NAMESPACE',
    default: 'kube-lb-system',
    help: 'Namespace of the leader Lease in the consumer cluster',
  },
  ...leaderElectionOptions('kube-lb-agent', 'acting'),
  'metrics-bind-address': bindAddressOption(
    '0.0.0.0:9090',
    'HOST:PORT of /metrics, /healthz and /readyz ("0" disables)',
  ),
  ...PROGRAM_OPTIONS,
} satisfies Record<string, OptionSpec>;
