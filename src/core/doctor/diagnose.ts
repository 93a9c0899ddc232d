// `kube-lb doctor` as a pure decision: facts gathered on an LB node (bpffs, Cilium's pinned maps and their
// shapes, the Cilium version the maps reveal, capabilities, sysctls) in, findings out. Each finding says what is
// wrong and what to do; `ready` is false exactly when the speaker would refuse to start or could not work.
import type { CiliumDatapathConfig, RefusalReason, Servability } from '../cilium/config.ts';
import type { Detection } from '../dataplane/detect.ts';
import { LB4_MAPS, shapeMismatch, type Lb4MapRole, type ObservedMapShape } from '../lb4/maps.ts';
import { assertNever } from '../../shared/errors.ts';

/** statfs f_type of a BPF filesystem (include/uapi/linux/magic.h). */
export const BPF_FS_MAGIC = 0xcafe4a11;

/** Capability numbers (include/uapi/linux/capability.h). */
export const CAP = { NET_ADMIN: 12, NET_RAW: 13, SYS_ADMIN: 21, SYS_NICE: 23, BPF: 39 } as const;
export type CapName = keyof typeof CAP;

export type Severity = 'ok' | 'info' | 'warn' | 'fail';

export interface Finding {
  readonly check: string;
  readonly severity: Severity;
  readonly message: string;
  /** What to do about it. */
  readonly hint?: string;
}

export type MapFact =
  | { role: Lb4MapRole; state: 'present'; shape: ObservedMapShape }
  | { role: Lb4MapRole; state: 'missing' }
  | { role: Lb4MapRole; state: 'error'; errno: string; message: string };

export type ProfileFact =
  | { state: 'decided'; configured: string; version: string; detection: Detection }
  | { state: 'refused'; configured: string; code: string; message: string; detection?: Detection }
  | { state: 'skipped' };

/** Cilium's configuration directory, parsed for the decided line (core/cilium/config.ts). */
export type CiliumConfigFact =
  | { state: 'read'; dir: string; config: CiliumDatapathConfig; servability: Servability }
  | { state: 'refused'; dir: string; code: string; message: string }
  | { state: 'skipped'; dir: string; why: string };

export interface SysctlFact {
  readonly name: string;
  /** Current value, or undefined when unreadable (missing interface, no /proc/sys). */
  readonly value: string | undefined;
  /** The value kube-lb needs. */
  readonly wanted: string;
  /** Whether the speaker could write it (it sets these itself). */
  readonly writable: boolean;
}

export interface DoctorFacts {
  readonly mapDir: string;
  /** statfs type of the map directory; undefined when it does not exist. */
  readonly mapDirFsType: number | undefined;
  readonly maps: readonly MapFact[];
  readonly profile: ProfileFact;
  readonly ciliumConfig: CiliumConfigFact;
  /** CapEff of the process, or undefined when unknown. */
  readonly effectiveCaps: bigint | undefined;
  /** Kernel release ("6.8.0-31-generic"). */
  readonly kernel: string;
  readonly interface: string | undefined;
  readonly sysctls: readonly SysctlFact[];
  /** Whether the change-events program loads here (undefined: not tried). */
  readonly changeEvents?: { readonly state: 'available' } | { readonly state: 'unavailable'; readonly message: string };
}

export interface Diagnosis {
  readonly ready: boolean;
  readonly findings: readonly Finding[];
  /** Cilium version profile the maps match (when decided). */
  readonly profile: string | undefined;
}

/** The CapEff line of /proc/self/status as a bit set. */
export function parseCapEff(procStatus: string): bigint | undefined {
  const m = /^CapEff:\s*([0-9a-f]+)\s*$/im.exec(procStatus);
  return m ? BigInt(`0x${m[1]}`) : undefined;
}

export function hasCap(caps: bigint, cap: CapName): boolean {
  return !!((caps >> BigInt(CAP[cap])) & 1n);
}

function kernelAtLeast(release: string, major: number, minor: number): boolean | undefined {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (!m) return undefined;
  const [a, b] = [Number(m[1]), Number(m[2])];
  return a > major || (a === major && b >= minor);
}

export function diagnose(f: DoctorFacts): Diagnosis {
  const findings: Finding[] = [];
  const add = (check: string, severity: Severity, message: string, hint?: string): void => {
    findings.push(hint === undefined ? { check, severity, message } : { check, severity, message, hint });
  };

  // -------------------------------------------------------------------- bpffs
  if (f.mapDirFsType === undefined) {
    add(
      'bpffs',
      'fail',
      `${f.mapDir} does not exist`,
      "Cilium pins its maps there once it runs with kube-proxy replacement; mount the host's /sys/fs/bpf into the speaker (hostPath) and check --map-dir",
    );
  } else if (f.mapDirFsType !== BPF_FS_MAGIC) {
    add(
      'bpffs',
      'fail',
      `${f.mapDir} is not on a BPF filesystem (statfs type 0x${f.mapDirFsType.toString(16)})`,
      'mount -t bpf bpf /sys/fs/bpf on the node (Cilium does this) and mount it into the speaker with mountPropagation HostToContainer',
    );
  } else {
    add('bpffs', 'ok', `${f.mapDir} is on bpffs`);
  }

  // -------------------------------------------------------------------- maps
  let mapsUsable = f.mapDirFsType === BPF_FS_MAGIC;
  let maglev = false;
  for (const m of f.maps) {
    const shape = LB4_MAPS[m.role];
    const check = `map ${shape.name}`;
    if (m.state === 'missing') {
      if (shape.optional) {
        add(check, 'info', `absent (optional: ${optionalMeaning(m.role)})`);
      } else {
        mapsUsable = false;
        add(
          check,
          'fail',
          'missing',
          'is Cilium running on this node with kubeProxyReplacement=true, and is --map-dir its tc/globals directory?',
        );
      }
      continue;
    }
    if (m.state === 'error') {
      if (!shape.optional) mapsUsable = false;
      add(
        check,
        shape.optional ? 'warn' : 'fail',
        `cannot open: ${m.errno} (${m.message})`,
        m.errno === 'EPERM' || m.errno === 'EACCES'
          ? 'the speaker needs uid 0 and CAP_BPF (or CAP_SYS_ADMIN); an old container runtime seccomp profile may also block bpf(2)'
          : undefined,
      );
      continue;
    }
    const problem = shapeMismatch(shape, m.shape);
    if (problem) {
      mapsUsable = false;
      add(
        check,
        'fail',
        `unexpected shape: ${problem}`,
        'kube-lb refuses to write maps whose layout it does not know; which Cilium version is this?',
      );
      continue;
    }
    if (m.role === 'maglev') maglev = true;
    add(
      check,
      'ok',
      `type ${m.shape.type}, key ${m.shape.keySize} B, value ${m.shape.valueSize} B, max_entries ${m.shape.maxEntries}`,
    );
  }

  // -------------------------------------------------------------------- Cilium version profile
  let profile: string | undefined;
  const p = f.profile;
  if (p.state === 'decided') {
    profile = p.version;
    const how =
      p.configured === 'auto'
        ? `detected from Cilium's entries (${p.detection.reasons.join('; ')})`
        : `configured, consistent with the entries (fits ${p.detection.candidates.join(', ')})`;
    add('cilium version', 'ok', `maps match the Cilium ${p.version} profile: ${how}`);
  } else if (p.state === 'refused') {
    mapsUsable = false;
    const hint =
      p.code === 'DATAPLANE_VERSION_UNKNOWN'
        ? "pass --cilium-version (the speaker's flag) with the Cilium version this node runs"
        : p.code === 'DATAPLANE_VERSION_MISMATCH'
          ? 'the configured --cilium-version contradicts what Cilium wrote; fix the flag'
          : undefined;
    add('cilium version', 'fail', p.message, hint);
  }

  // -------------------------------------------------------------------- Cilium configuration
  const c = f.ciliumConfig;
  switch (c.state) {
    case 'read': {
      const cfg = c.config;
      const what = `${cfg.algorithm}${cfg.algorithm === 'maglev' ? ` (table ${cfg.maglev.tableSize})` : ''}, mode ${cfg.mode}${cfg.modeAnnotation ? ' with per-service annotation' : ''}, source ranges ${cfg.sourceRangeCheck ? 'enforced' : 'not enforced'}, protocol in keys ${cfg.protoDiff ? 'yes' : 'no (bpf-lb-proto-diff=false)'}`;
      if (c.servability.ok) add('cilium config', 'ok', `${c.servability.message}; ${what}`);
      else
        add(
          'cilium config',
          'fail',
          `${c.servability.reason}: ${c.servability.message}`,
          refusalHint(c.servability.reason),
        );
      if (cfg.algorithm === 'maglev' && f.maps.some((m) => m.role === 'maglev' && m.state === 'missing')) {
        add(
          'cilium config',
          'fail',
          `bpf-lb-algorithm=maglev in ${c.dir}, but Cilium's maglev map is missing`,
          'is --cilium-config-dir the configuration of the agent that runs here, and has the agent been restarted since it changed?',
        );
      }
      break;
    }
    case 'refused':
      add(
        'cilium config',
        'fail',
        `${c.code}: ${c.message}`,
        'the speaker refuses to start with this configuration; mount the cilium-config ConfigMap (see docs/cilium.md) and pass its directory as --cilium-config-dir',
      );
      break;
    case 'skipped':
      add('cilium config', 'warn', `not checked: ${c.why}`);
      break;
    default:
      return assertNever(c, 'state');
  }

  // -------------------------------------------------------------------- capabilities
  if (f.effectiveCaps === undefined) {
    add('capabilities', 'warn', 'cannot read the effective capabilities (/proc/self/status)');
  } else {
    const caps = f.effectiveCaps;
    const bpfOk = hasCap(caps, 'BPF') || hasCap(caps, 'SYS_ADMIN');
    const need: Array<[boolean, string, string]> = [
      [bpfOk, 'CAP_BPF', 'bpf(2) on the pinned maps'],
      [
        hasCap(caps, 'NET_ADMIN'),
        'CAP_NET_ADMIN',
        'proxy neighbour entries, VIP routes, the sink link, interface sysctls',
      ],
      [hasCap(caps, 'NET_RAW'), 'CAP_NET_RAW', 'gratuitous ARP on a packet socket'],
    ];
    if (maglev)
      need.push([
        hasCap(caps, 'SYS_ADMIN'),
        'CAP_SYS_ADMIN',
        'reading maglev inner maps (BPF_MAP_GET_FD_BY_ID) because Cilium uses maglev',
      ]);
    const missing = need.filter(([ok]) => !ok);
    for (const [, cap, why] of missing)
      add(
        'capabilities',
        'fail',
        `${cap} missing: needed for ${why}`,
        "add it to the speaker container's securityContext.capabilities",
      );
    if (missing.length === 0) add('capabilities', 'ok', `${need.map(([, c]) => c).join(', ')} present`);
    if (!hasCap(caps, 'SYS_NICE'))
      add(
        'capabilities',
        'warn',
        'CAP_SYS_NICE missing: the thread that writes back entries a Cilium prune deletes runs at normal priority, so they may wait for a CPU before they go back',
        "add SYS_NICE to the speaker container's securityContext.capabilities",
      );
    if (!maglev && hasCap(caps, 'SYS_ADMIN'))
      add('capabilities', 'info', 'CAP_SYS_ADMIN is not needed: Cilium does not use maglev on this node');
  }
  if (kernelAtLeast(f.kernel, 5, 8) === false) {
    add(
      'kernel',
      'warn',
      `kernel ${f.kernel} predates CAP_BPF (5.8)`,
      'the speaker then needs CAP_SYS_ADMIN for every bpf(2) call',
    );
  }

  // -------------------------------------------------------------------- change events
  if (f.changeEvents?.state === 'available') {
    add(
      'change events',
      'ok',
      "the map-watch program loads: others' writes to the lb maps are seen as they happen, and a prune is written back entry by entry",
    );
  } else if (f.changeEvents?.state === 'unavailable') {
    add(
      'change events',
      'warn',
      `unavailable, the speaker will poll: ${f.changeEvents.message}`,
      'it needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN), kernel BTF (/sys/kernel/btf/vmlinux) and the BPF ring buffer (5.8+). Polling re-reads every map each --reconcile-period, so a Cilium prune leaves VIPs down until the next pass',
    );
  }

  // -------------------------------------------------------------------- sysctls
  if (f.interface === undefined) {
    add(
      'sysctls',
      'warn',
      'no IPv4 default route: cannot tell which interface answers ARP',
      'kube-lb announces on the default-route interface unless an L2Announcement names interfaces',
    );
  }
  for (const s of f.sysctls) {
    if (s.value === s.wanted) add(`sysctl ${s.name}`, 'ok', `= ${s.value}`);
    else if (s.writable)
      add(`sysctl ${s.name}`, 'info', `= ${s.value ?? '(unreadable)'}; the speaker sets ${s.wanted} when it announces`);
    else
      add(
        `sysctl ${s.name}`,
        'fail',
        `= ${s.value ?? '(unreadable)'}, needs ${s.wanted}, and is not writable here`,
        "the speaker writes it through the host's /proc/sys/net (hostPath mount) with CAP_NET_ADMIN; or set it on the node",
      );
  }

  const ready = mapsUsable && !findings.some((x) => x.severity === 'fail');
  return { ready, findings, profile };
}

function refusalHint(reason: RefusalReason): string {
  switch (reason) {
    case 'CiliumKubeProxyReplacementOff':
      return 'run Cilium on the LB nodes with kubeProxyReplacement=true (kube-proxy-replacement: "true" in cilium-config)';
    case 'CiliumDSRMode':
      return "use bpf-lb-mode=snat on the LB nodes, or keep dsr as the default and set bpf-lb-mode-annotation=true: kube-lb's services then use SNAT";
    case 'CiliumHybridMode':
      return 'use bpf-lb-mode=snat on the LB nodes (Cilium 1.19+ also serves kube-lb in hybrid mode)';
    default:
      return assertNever(reason, 'reason');
  }
}

function optionalMeaning(role: Lb4MapRole): string {
  switch (role) {
    case 'maglev':
      return 'Cilium does not use maglev here';
    case 'sourceRange':
      return 'loadBalancerSourceRanges cannot be enforced';
    case 'affinityMatch':
    case 'affinity':
      return 'ClientIP session affinity cannot be programmed';
    default:
      return 'not used';
  }
}

const MARK: Record<Severity, string> = { ok: 'ok  ', info: 'info', warn: 'WARN', fail: 'FAIL' };

export function formatDiagnosis(d: Diagnosis): string {
  const lines = d.findings.map(
    (x) => `[${MARK[x.severity]}] ${x.check}: ${x.message}${x.hint ? `\n       → ${x.hint}` : ''}`,
  );
  const blockers = d.findings.filter((x) => x.severity === 'fail');
  lines.push(
    '',
    d.ready
      ? `READY: kube-lb can run on this node${d.profile ? ` (Cilium ${d.profile} profile)` : ''}`
      : `NOT READY: ${blockers.length} problem(s) would stop kube-lb: ${blockers.map((b) => b.check).join(', ')}`,
  );
  return `${lines.join('\n')}\n`;
}
