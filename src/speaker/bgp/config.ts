// The speaker's BGP flags, declared once; the speaker's main merges them into its own table.
import type { OptionSpec } from '../../shared/config.ts';

export const BGP_OPTIONS = {
  bgp: {
    kind: 'bool',
    default: false,
    help: 'Announce served VIPs over BGP through the FRR daemons beside the speaker (BGPPeer, BGPAdvertisement, BFDProfile)',
  },
  'frr-vty-socket': {
    kind: 'string',
    default: '/var/run/frr',
    help: "Directory of FRR's vty sockets (shared with the FRR sidecar)",
  },
  'frr-bin-dir': { kind: 'string', default: '/usr/bin', help: 'Directory holding vtysh' },
  'frr-reload': {
    kind: 'string',
    default: '/usr/lib/frr/frr-reload.py',
    help: "FRR's frr-reload.py, which applies only the difference between the running and the new configuration",
  },
  'frr-work-dir': {
    kind: 'string',
    default: '/var/run/frr/kube-lb',
    help: 'Where the rendered configuration is written for frr-reload.py (holds BGP passwords: mode 0700)',
  },
  'bgp-alive-fifo': {
    kind: 'string',
    default: '/var/run/frr/kube-lb-alive',
    help: "FIFO the speaker holds open for its lifetime; the FRR sidecar's guard drops every session when it closes (a crashed speaker never leaves routes behind)",
  },
  'bgp-router-id': {
    kind: 'string',
    default: '',
    help: 'BGP router ID (default: the address peers reach this node at, --peer-address or the default-route interface)',
  },
  'bgp-drain-delay': {
    kind: 'duration',
    default: 5000,
    min: 0,
    max: 600_000,
    help: 'On SIGTERM, how long the speaker waits after withdrawing its routes before it exits (routers move new flows away first)',
  },
  'bgp-status-period': {
    kind: 'duration',
    default: 2000,
    min: 200,
    help: 'How often session state is read from FRR and, when it changed, written to the BGPPeers',
  },
} satisfies Record<string, OptionSpec>;
