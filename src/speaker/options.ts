// The speaker's flags (and environment variables), declared once; `node src/speaker/main.ts --help` lists them.
// The L2 and BGP announcement options come from their components (src/speaker/l2/config.ts, bgp/config.ts).
import type { OptionSpec } from '../shared/config.ts';
import { bindAddressOption } from '../shared/host-port.ts';
import { PROGRAM_OPTIONS } from '../shared/program.ts';
import { BGP_OPTIONS } from './bgp/config.ts';
import { L2_OPTIONS } from './l2/config.ts';
import { CILIUM_VERSION_RANGE } from '../core/lb4/profile.ts';
import { DEFAULT_CILIUM_CONFIG_DIR } from './cilium-config-dir.ts';

export const SPEAKER_OPTIONS = {
  ...L2_OPTIONS,
  ...BGP_OPTIONS,
  kubeconfig: {
    kind: 'string',
    env: 'KUBECONFIG',
    help: 'Kubeconfig of the LB cluster (unset: in-cluster service account)',
  },
  'map-dir': { kind: 'string', default: '/sys/fs/bpf/tc/globals', help: "Directory of Cilium's pinned lb4 maps" },
  'cilium-version': {
    kind: 'string',
    default: 'auto',
    help: `Cilium line whose map layout to write, ${CILIUM_VERSION_RANGE} ("auto": detect from the maps)`,
  },
  'cilium-config-dir': {
    kind: 'string',
    default: DEFAULT_CILIUM_CONFIG_DIR,
    help: "Cilium's configuration directory (the cilium-config ConfigMap mounted, or what cilium-agent --config-dir reads): kube-proxy replacement, LB mode, algorithm, maglev table size and seed, ...",
  },
  'reconcile-period': {
    kind: 'duration',
    default: 500,
    min: 50,
    help: 'How often a reconcile pass runs (with change events, a pass re-reads the maps only when someone else wrote)',
  },
  'change-events': {
    kind: 'bool',
    default: true,
    help: 'Learn of changes others make to the maps from a BPF program on bpf(2) syscall exit, and write deleted entries back at once (false: re-read every map every pass)',
  },
  'kernel-write-back': {
    kind: 'bool',
    default: true,
    help: "With change events: the BPF program itself puts kube-lb's services, backends and revNAT entries back when another process deletes them, before that process's delete returns (false: written back from the event, milliseconds later)",
  },
  'verify-period': {
    kind: 'duration',
    default: 10_000,
    min: 100,
    help: 'With change events: how often the maps are re-read in full anyway, as a safety net',
  },
  'health-interval': { kind: 'duration', default: 2000, min: 100, help: 'Backend health probe period (per target)' },
  'health-timeout': { kind: 'duration', default: 1000, min: 50, help: 'Deadline of one health probe' },
  'health-rise': {
    kind: 'int',
    default: 2,
    min: 1,
    max: 100,
    help: 'Consecutive successful probes that bring a backend back',
  },
  'health-fall': {
    kind: 'int',
    default: 3,
    min: 1,
    max: 100,
    help: 'Consecutive failed probes that take a backend out',
  },
  'status-min-interval': {
    kind: 'duration',
    default: 1000,
    min: 0,
    help: 'Each claim status is written at most this often',
  },
  'status-debounce': {
    kind: 'duration',
    default: 50,
    min: 0,
    max: 10_000,
    help: 'Window that gathers changes into one status pass',
  },
  'status-concurrency': { kind: 'int', default: 4, min: 1, max: 64, help: 'Claim status writes in flight at once' },
  'state-min-interval': {
    kind: 'duration',
    default: 1000,
    min: 0,
    help: "This node's published state (Lease annotations) is written at most this often",
  },
  'request-timeout': { kind: 'duration', default: 10_000, min: 500, help: 'Deadline of each API request' },
  'metrics-bind-address': bindAddressOption(
    '0.0.0.0:9474',
    'HOST:PORT of /metrics, /healthz, /readyz and /state ("0" disables)',
  ),
  'metrics-auth': {
    kind: 'bool',
    default: true,
    help: '/metrics and /state on --metrics-bind-address need a bearer token allowed to get them (TokenReview, SubjectAccessReview), except from loopback; the probes stay open',
  },
  'state-socket': {
    kind: 'string',
    default: '',
    help: 'Also serve /state and /metrics on this Unix socket (for `kube-lb speaker state` from any network namespace)',
  },
  'proc-sys-dir': {
    kind: 'string',
    env: 'KUBE_LB_PROC_SYS_DIR',
    default: '/proc/sys',
    help: "Where the node's sysctls are written (a container's own /proc/sys is read-only: the DaemonSet mounts the host's /proc/sys/net under /host/proc/sys)",
  },
  ...PROGRAM_OPTIONS,
} satisfies Record<string, OptionSpec>;
