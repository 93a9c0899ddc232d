// The catalogue of every error code kube-lb raises: the one place a code is defined. KubeLbError takes only these
// codes (the compiler refuses any other), and docs/errors.md is rendered from this table
// (scripts/gen-error-docs.ts; a unit test keeps it fresh), so a new code cannot ship undocumented.
// Pure data: src/core imports it through shared/errors.ts.

export interface ErrorCodeDoc {
  /** Which program or command raises it. */
  readonly raisedBy: string;
  /** What happened, in an operator's words. */
  readonly meaning: string;
  /** What the operator does about it. */
  readonly action: string;
}

export const ERROR_CODES = {
  // Configuration and command lines
  CONFIG_INVALID: {
    raisedBy: 'every program and the CLI, at start',
    meaning:
      'A flag or its environment variable has a value kube-lb cannot use; the message names the flag and the value.',
    action:
      "Fix the flag (the message says what it must be) and start again. `kube-lb doctor` checks the speaker's flags on a node.",
  },
  USAGE: {
    raisedBy: 'the CLI',
    meaning:
      'The command line cannot be run as given: a bad argument, or a request that fails its checks before anything is written.',
    action: 'Read the message and `--help` of the command; nothing was changed. The CLI exits 2.',
  },
  KUBECONFIG_INVALID: {
    raisedBy: 'every program and the CLI',
    meaning: 'The kubeconfig in use names no cluster for its current context.',
    action: 'Check `current-context` and its cluster in the kubeconfig (or pass `--context`).',
  },
  CLI_NO_KUBECONFIG: {
    raisedBy: 'the CLI',
    meaning: 'No kubeconfig was found: not `--kubeconfig`, not `KUBECONFIG`, not `~/.kube/config`, not in-cluster.',
    action: 'Pass `--kubeconfig` or set `KUBECONFIG`.',
  },
  CLI_NO_SERVER: {
    raisedBy: '`kube-lb tenant add`',
    meaning: "The LB cluster's kubeconfig has no API server address to put into the tenant's kubeconfig.",
    action: "Pass `--server` with the address the consumer cluster reaches the LB cluster's API server at.",
  },
  CLI_NO_CA: {
    raisedBy: '`kube-lb tenant add`',
    meaning: "No CA certificate for the LB API server was found to put into the tenant's kubeconfig.",
    action: 'Pass `--certificate-authority` with the CA file.',
  },
  CLI_TOKEN: {
    raisedBy: '`kube-lb tenant add`',
    meaning:
      "The tenant's ServiceAccount token did not arrive (no token in the answer, or none in its Secret in time).",
    action:
      "Check that kube-controller-manager's token controller runs in the LB cluster, or use `--token-ttl` for a requested token.",
  },
  CLI_REFUSED: {
    raisedBy: '`kube-lb tenant`',
    meaning:
      "The change would break a rule the allocator's webhook also enforces (an overlapping backend range, a namespace kube-lb does not own); the message names the reason.",
    action: 'Change the request as the reason says; nothing was written.',
  },
  CLI_APPLY: {
    raisedBy: '`kube-lb tenant add`',
    meaning:
      "The API server refused one of the tenant's objects; the message names the object and quotes the API server.",
    action:
      'Fix what the API server names (often RBAC of the user running the CLI) and run the command again; it is idempotent.',
  },
  CLI_NOT_FOUND: {
    raisedBy: '`kube-lb tenant`',
    meaning: 'The named ConsumerCluster does not exist.',
    action: 'Check the name with `kubectl get consumerclusters`.',
  },
  CLI_TEMPLATE: {
    raisedBy: '`kube-lb tenant add`',
    meaning: 'A manifest template shipped in deploy/ could not be rendered (a placeholder without a value).',
    action: 'A packaging bug: report it with the message.',
  },
  CLI_SPEAKER_STATE: {
    raisedBy: '`kube-lb speaker state`',
    meaning: "The speaker's state endpoint did not answer, or answered with an error.",
    action: 'Check the `--socket`/`--url` and that the speaker runs on that node.',
  },

  // Kubernetes API
  KUBE_API: {
    raisedBy: 'every program and the CLI',
    meaning:
      'A Kubernetes API call failed; the message names the action and object and quotes the API server. Retried on its own when transient (network, 409, 429, 5xx).',
    action: 'A lasting one is usually RBAC (403) or a missing CRD (404): compare with deploy/ and `kube-lb doctor`.',
  },
  LB_CREDENTIALS: {
    raisedBy: 'the agent, at start',
    meaning:
      'The agent cannot read its LB-cluster kubeconfig from the Secret named by `--lb-kubeconfig-secret`, or the Secret has no `kubeconfig` key.',
    action: "Apply the Secret `kube-lb tenant add` printed, in the agent's namespace, with its `kubeconfig` key.",
  },
  WEBHOOK_CERTIFICATES: {
    raisedBy: 'the allocator, at start',
    meaning:
      'The webhook certificate Secret could not be settled: every attempt met another writer (another replica, or a tool rewriting the Secret).',
    action: 'Check what else writes the Secret; the allocator restarts and tries again.',
  },
  WEBHOOK_BAD_REQUEST: {
    raisedBy: "the allocator's webhook",
    meaning:
      'A request to the webhook was not an AdmissionReview, or its body was too large; answered 400, never admitted.',
    action: "Only the API server should call the webhook: check the ValidatingWebhookConfiguration's service and path.",
  },

  // L2 announcement (speaker)
  L2_SYSCTL: {
    raisedBy: 'the speaker',
    meaning: 'A sysctl the ARP answering needs could not be read or written; the message names its path.',
    action: "Give the speaker the host's /proc/sys writable (see deploy/) or set the sysctl on the node yourself.",
  },
  L2_NETLINK: {
    raisedBy: 'the speaker',
    meaning: 'A netlink request (links, proxy neighbour entries) failed. Retried.',
    action: "If it lasts, check the speaker's NET_ADMIN capability and host network.",
  },
  L2_SYSCALL: {
    raisedBy: 'the speaker',
    meaning: 'A raw ARP socket call failed; the message names the call and the errno.',
    action: 'EPERM: the speaker lacks NET_RAW. ENODEV/ENXIO: the interface is gone.',
  },
  L2_HEARTBEAT_SOCKET: {
    raisedBy: 'the speaker, at start',
    meaning:
      'The heartbeat thread could not bind its UDP socket (the message names the address and why) or exited before it did.',
    action:
      'Check `--peer-address` and `--peer-port`, and that no other process holds that UDP port on the node; the speaker exits and is restarted.',
  },
  L2_SINK_LINK: {
    raisedBy: 'the speaker, at start',
    meaning: 'The sink link the speaker creates for proxy ARP did not appear.',
    action:
      "Check the speaker's NET_ADMIN capability and that nothing else removes links named like its `--sink-link`.",
  },
  L2_FOREIGN_ENTRY: {
    raisedBy: 'the speaker',
    meaning:
      'A proxy neighbour entry or route for a VIP exists that kube-lb did not make; kube-lb does not replace it and does not announce that VIP from this node.',
    action: 'Remove the foreign entry if it is a leftover, or take the address out of the pool.',
  },
  L2_INTERFACE_PATTERN: {
    raisedBy: 'the speaker, at start',
    meaning: 'An interface pattern (a name, a glob or a /regular expression/) is not valid.',
    action: 'Fix the pattern in the flag or VIPPool the message names.',
  },
  L2_ADDRESS_FORMAT: {
    raisedBy: 'the speaker',
    meaning: 'A MAC or IPv4 address is not in a form kube-lb reads.',
    action: 'Fix the address the message quotes.',
  },

  // BGP announcement (speaker)
  BGP_FRR_COMMAND: {
    raisedBy: 'the speaker',
    meaning:
      "vtysh could not be run, or did not answer in time, against FRR's vty sockets; the message names the command and quotes FRR.",
    action:
      "Check that the FRR sidecar runs and that `--frr-vty-socket` is the directory it shares with the speaker (frr-guard.sh's `--vty-dir`).",
  },
  BGP_FRR_RELOAD: {
    raisedBy: 'the speaker',
    meaning:
      "frr-reload.py did not apply the speaker's FRR configuration; the message quotes what FRR said. FRR keeps the configuration it had.",
    action:
      'A configuration FRR refuses is a kube-lb bug (report it with the message); a timeout or a missing script is the FRR sidecar: check its logs.',
  },
  BGP_FRR_OUTPUT: {
    raisedBy: 'the speaker',
    meaning: "FRR's JSON answer about BGP neighbors or BFD peers could not be read.",
    action: 'Check that the FRR sidecar runs a supported FRR version (8.4 or later); report it with the message.',
  },
  BGP_ALIVE_FIFO: {
    raisedBy: 'the speaker, at start',
    meaning:
      "The FIFO that tells frr-guard.sh the speaker is alive (`--bgp-alive-fifo`) could not be held open, or is not a FIFO; without it FRR's routes would outlive the speaker.",
    action:
      "Check that the speaker and the FRR sidecar share the FIFO's directory and that frr-guard.sh's KUBE_LB_ALIVE_FIFO names the same path.",
  },

  // Dataplane (speaker, doctor, maps list)
  NATIVE_ADDON_MISSING: {
    raisedBy: "the speaker and the CLI's node commands",
    meaning: 'The native addon (bpf(2), raw ARP socket) was not found.',
    action: 'Run `npm run setup` in a clone; in the image it ships built, so report it.',
  },
  NATIVE_ADDON_STALE: {
    raisedBy: "the speaker and the CLI's node commands",
    meaning: 'The native addon is older than the code and lacks a function it needs.',
    action: 'Rebuild it: `npm run setup`.',
  },
  BPF_SYSCALL_FAILED: {
    raisedBy: "the speaker and the CLI's node commands",
    meaning:
      'A bpf(2) call on a Cilium map failed; the message names the command, the map and the errno. EAGAIN, EBUSY, ENOMEM and EINTR are retried.',
    action: "EPERM: the speaker lacks BPF/SYS_ADMIN. E2BIG/ENOSPC: the map is full (raise Cilium's map sizes).",
  },
  MAP_WATCH_UNAVAILABLE: {
    raisedBy: 'the speaker',
    meaning: 'The map watch (which notices writes to the lb4 maps by others) could not start here.',
    action:
      "The message says why in libbpf's and the kernel's words (a missing BPF object: `npm run setup`); `--change-events=false` runs the speaker without it.",
  },
  DATAPLANE_MAP_MISSING: {
    raisedBy: 'the speaker, `kube-lb doctor`, `kube-lb maps list`',
    meaning: 'A Cilium lb4 map is not pinned where kube-lb looks.',
    action: 'Check that cilium-agent runs on the node with kube-proxy replacement, and `--bpffs`.',
  },
  DATAPLANE_MAP_SHAPE: {
    raisedBy: 'the speaker, `kube-lb doctor`, `kube-lb maps list`',
    meaning: 'A Cilium map has another key or value size than the Cilium version kube-lb assumes.',
    action: 'Pass `--cilium-version` with the version the node runs; see docs/cilium.md for the supported lines.',
  },
  DATAPLANE_VERSION_MISMATCH: {
    raisedBy: 'the speaker, `kube-lb doctor`',
    meaning: "The maps' shapes do not match the Cilium version given with `--cilium-version`.",
    action: 'Pass the version cilium-agent on this node really runs.',
  },
  DATAPLANE_VERSION_UNKNOWN: {
    raisedBy: 'the speaker, `kube-lb doctor`',
    meaning: 'The Cilium version could not be told from the maps alone.',
    action: 'Pass `--cilium-version` with the version this node runs.',
  },
  DATAPLANE_MAGLEV_TABLE_SIZE: {
    raisedBy: 'the speaker',
    meaning:
      'Cilium selects backends with maglev and kube-lb does not know, or disagrees about, the maglev table size.',
    action: "Mount Cilium's configuration (`--cilium-config-dir`) so kube-lb reads bpf-lb-maglev-table-size.",
  },
  LB4_CODEC_INVALID: {
    raisedBy: 'the speaker, `kube-lb maps list`',
    meaning:
      'A value does not fit a Cilium map struct, or bytes in a map are not a valid struct; the message names the struct and field.',
    action: 'Usually a wrong `--cilium-version`; otherwise report it with the message.',
  },
  MAGLEV_SEED_INVALID: {
    raisedBy: 'the speaker',
    meaning: "Cilium's maglev hash seed is not base64 of 12 bytes.",
    action: "Check bpf-lb-maglev-hash-seed in Cilium's configuration.",
  },
  CILIUM_CONFIG_DIR: {
    raisedBy: 'the speaker',
    meaning: "Cilium's configuration directory cannot be read.",
    action:
      'Mount the cilium-config ConfigMap there, or point `--cilium-config-dir` at the directory cilium-agent reads.',
  },
  CILIUM_CONFIG_INVALID: {
    raisedBy: 'the speaker',
    meaning:
      "A value in Cilium's configuration is one Cilium would refuse or kube-lb cannot interpret; the message names the key and file.",
    action: 'Fix the key in the cilium-config ConfigMap.',
  },
  CILIUM_CONFIG_LINE: {
    raisedBy: 'the speaker',
    meaning: 'The node runs a Cilium line whose configuration kube-lb does not read.',
    action: 'Run a supported Cilium line (docs/cilium.md).',
  },

  // Bugs and tests
  INTERNAL_INVARIANT: {
    raisedBy: 'any program',
    meaning:
      "Something kube-lb's own code guarantees did not hold (a bug), or a value of a kind this version does not know.",
    action: 'Report it with the message and the version (`kube-lb version`).',
  },
  FAULT_INJECTED: {
    raisedBy: 'tests only',
    meaning: 'A fault the test suite injected into the map layer on purpose.',
    action: 'None; never seen in production.',
  },
  FAKE_MAP_SIZE: {
    raisedBy: 'tests only',
    meaning: 'The in-memory stand-in for a BPF map got a key, value or table of the wrong size.',
    action: 'None; never seen in production.',
  },
} as const satisfies Record<string, ErrorCodeDoc>;

export type ErrorCode = keyof typeof ERROR_CODES;
