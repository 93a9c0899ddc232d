// The L2 announcement options, declared once; the speaker's main merges them into its own table.
import type { OptionSpec } from '../../shared/config.ts';

export const L2_OPTIONS = {
  'node-name': {
    kind: 'string',
    env: 'NODE_NAME',
    required: true,
    help: 'name of this LB node (its Node object and Lease holder)',
  },
  namespace: {
    kind: 'string',
    env: 'KUBE_LB_NAMESPACE',
    default: 'kube-lb-system',
    help: 'namespace of the per-node Leases',
  },
  'lease-duration': {
    kind: 'duration',
    default: 3000,
    min: 1000,
    help: 'Lease duration (whole seconds on the API object)',
  },
  'renew-period': { kind: 'duration', default: 1000, min: 100, help: 'how often each node renews its Lease' },
  'peer-port': {
    kind: 'int',
    default: 7473,
    min: 0,
    max: 65535,
    help: 'UDP port for heartbeats and handover between speakers; 0: none',
  },
  'peer-key-file': {
    kind: 'string',
    help: 'file holding the key peers share (a Secret): heartbeats, byes and acks are signed, unsigned and replayed ones ignored; unset: unauthenticated',
  },
  'peer-address': {
    kind: 'string',
    help: 'IPv4 address peers reach this node at (default: first address of the default-route interface)',
  },
  'probe-interval': {
    kind: 'duration',
    default: 50,
    min: 0,
    help: 'heartbeat period; 0s turns fast failure detection off (Leases alone)',
  },
  'probe-timeout': {
    kind: 'duration',
    default: 200,
    min: 50,
    help: 'heartbeat silence after which a peer counts as dead',
  },
  'garp-count': {
    kind: 'int',
    default: 3,
    min: 0,
    max: 20,
    help: 'gratuitous ARP announcements on takeover (request + reply each)',
  },
  'garp-interval': {
    kind: 'duration',
    default: 200,
    min: 10,
    help: 'delay between the announcements of a takeover burst',
  },
  'garp-rate': {
    kind: 'int',
    default: 5000,
    min: 0,
    help: 'gratuitous ARP announcements per second at most, first ones of a takeover before repeats; 0: unpaced',
  },
  'garp-refresh': {
    kind: 'duration',
    default: 60_000,
    min: 0,
    help: 'periodic gratuitous ARP for every announced VIP; 0: off',
  },
  'dad-probes': {
    kind: 'int',
    default: 3,
    min: 0,
    max: 10,
    help: 'duplicate-address ARP probes before a VIP new to the fleet is first announced (not on failover); 0: no probe',
  },
  'dad-interval': { kind: 'duration', default: 50, min: 1, help: 'delay between duplicate-address probes' },
  'dad-wait': {
    kind: 'duration',
    default: 100,
    min: 1,
    help: 'how long to listen for an answer after the last duplicate-address probe',
  },
  'dad-retry-max': {
    kind: 'duration',
    default: 30_000,
    min: 1000,
    help: 'longest wait before probing a VIP in use again (backoff from 1s, doubling)',
  },
  'handover-timeout': {
    kind: 'duration',
    default: 3000,
    min: 0,
    help: 'longest wait for peers to take over on graceful stop',
  },
  'handover-grace': {
    kind: 'duration',
    default: 1000,
    min: 0,
    help: 'without a peer port: how long to keep answering after leaving',
  },
  'sink-link': { kind: 'string', default: 'kube-lb0', help: 'name of the TAP link VIP routes point at' },
  'status-settle': {
    kind: 'duration',
    default: 2000,
    min: 0,
    help: 'an Announced status is written once it has held this long (no writes on flaps)',
  },
  resync: { kind: 'duration', default: 10_000, min: 500, help: 'full reconcile period (repairs kernel state)' },
  vips: { kind: 'list', help: 'announce these VIPs instead of watching VIPClaims (testing, L2 alone)' },
  interfaces: {
    kind: 'list',
    default: [],
    help: 'with --vips: interface names or /regex/ (default: the default-route interface)',
  },
} satisfies Record<string, OptionSpec>;
