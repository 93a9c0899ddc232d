// The agent's flags (and environment variables), declared once; `node src/agent/main.ts --help` lists them.
import type { OptionSpec } from '../shared/config.ts';
import { LOG_LEVELS } from '../shared/logger.ts';

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
  'heartbeat-period': { kind: 'duration', default: 30_000, min: 1000, help: 'How often to report to the ConsumerCluster status' },
  resync: { kind: 'duration', default: 300_000, min: 0, help: 'Re-check every Service and claim this often (0: never)' },
  'request-timeout': { kind: 'duration', default: 10_000, min: 500, help: 'Deadline of each API request' },
  'rejection-retry': {
    kind: 'duration',
    default: 60_000,
    min: 1000,
    help: 'After the LB cluster rejects a claim (validation, admission, quota), wait this long before sending the same claim again',
  },
  concurrency: { kind: 'int', default: 16, min: 1, max: 64, help: 'Services reconciled in parallel (the work is API round trips, not CPU)' },
  'leader-elect': { kind: 'bool', default: true, help: 'Run as one of several replicas, only the Lease holder acting' },
  'leader-election-namespace': {
    kind: 'string',
    env: 'POD_NAMESPACE',
    default: 'kube-lb-system',
    help: 'Namespace of the leader Lease in the consumer cluster',
  },
  'leader-election-id': { kind: 'string', default: 'kube-lb-agent', help: 'Name of the leader Lease' },
  'lease-duration': { kind: 'duration', default: 15_000, min: 1000, help: 'Leader Lease duration' },
  'renew-deadline': { kind: 'duration', default: 10_000, min: 500, help: 'A leader that cannot renew within this steps down' },
  'retry-period': { kind: 'duration', default: 2_000, min: 100, help: 'Leader election retry period' },
  identity: { kind: 'string', env: 'POD_NAME', help: 'Leader election identity (default: hostname and pid)' },
  'metrics-bind-address': {
    kind: 'string',
    default: '0.0.0.0:9090',
    help: 'HOST:PORT of /metrics, /healthz and /readyz ("0" disables)',
  },
  'log-level': { kind: 'string', default: 'info', oneOf: LOG_LEVELS, help: 'Log level' },
  help: { kind: 'bool', default: false, help: 'Print this help' },
} satisfies Record<string, OptionSpec>;
