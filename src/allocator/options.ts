// The allocator's flags (and environment variables), declared once; `node src/allocator/main.ts --help` lists them.
import type { OptionSpec } from '../shared/config.ts';
import { bindAddressOption } from '../shared/host-port.ts';
import { leaderElectionOptions, PROGRAM_OPTIONS } from '../shared/program.ts';

export const ALLOCATOR_OPTIONS = {
  kubeconfig: { kind: 'string', help: 'Kubeconfig of the LB cluster (unset: in-cluster service account)' },
  namespace: {
    kind: 'string',
    env: 'POD_NAMESPACE',
    default: 'kube-lb-system',
    help: 'Namespace of the leader Lease, the webhook certificate Secret and the webhook Service',
  },
  workers: {
    kind: 'int',
    default: 64,
    min: 1,
    max: 256,
    help: 'Claims decided and written in parallel (status writes in flight at once)',
  },
  resync: { kind: 'duration', default: 600_000, min: 0, help: 'Re-decide every claim this often (0: never)' },
  'status-debounce': {
    kind: 'duration',
    default: 1000,
    min: 0,
    max: 60_000,
    help: 'Pool and tenant status are written at most this often',
  },
  'request-timeout': { kind: 'duration', default: 10_000, min: 500, help: 'Deadline of each API request' },
  ...leaderElectionOptions('kube-lb-allocator', 'writing'),
  webhook: {
    kind: 'bool',
    default: true,
    help: 'Serve the validating admission webhook and patch its CA into the shipped configuration (--webhook-configuration)',
  },
  'webhook-bind-address': bindAddressOption('0.0.0.0:9443', 'HOST:PORT the webhook listens on (HTTPS)'),
  'webhook-url': {
    kind: 'string',
    help: 'The URL the webhook configuration calls instead of the Service (e.g. https://127.0.0.1:9443/validate, out-of-cluster runs): its host is put in the serving certificate',
  },
  'webhook-service': {
    kind: 'string',
    default: 'kube-lb-allocator',
    help: 'Service (in --namespace) in front of the webhook',
  },
  'webhook-configuration': {
    kind: 'string',
    default: 'kube-lb-allocator',
    help: 'The ValidatingWebhookConfiguration the manifests ship, whose caBundle the allocator patches (it never creates one)',
  },
  'webhook-secret': {
    kind: 'string',
    default: 'kube-lb-allocator-webhook-tls',
    help: 'Secret (in --namespace) that holds the webhook CA and serving certificate',
  },
  'webhook-cert-dir': {
    kind: 'string',
    help: "Serve tls.crt and tls.key from this directory (cert-manager, GitOps), re-read every minute; the allocator then neither keeps --webhook-secret nor patches the configuration's caBundle (unset: it does both)",
  },
  'metrics-bind-address': bindAddressOption(
    '0.0.0.0:9090',
    'HOST:PORT of /metrics, /healthz and /readyz ("0" disables)',
  ),
  ...PROGRAM_OPTIONS,
} satisfies Record<string, OptionSpec>;
