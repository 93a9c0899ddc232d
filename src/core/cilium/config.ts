// What a node's Cilium is configured to do, read from its configuration directory (one file per agent flag,
// the file name is the flag, the content its value: what Kubernetes mounts from the cilium-config ConfigMap and
// what `cilium-agent --config-dir` reads), and whether kube-lb can serve VIPs on such a node. Pure: the caller
// reads the directory (src/speaker/cilium-config-dir.ts) and passes the entries in.
//
// Keys and defaults per line were taken from Cilium's sources (v1.17.8, v1.18.11, v1.19.7, v1.20.2); where each
// comes from is in docs/cilium.md. Only lines 1.17 and later are modelled: older lines are not supported by
// the speaker (their map layouts are still known to the codecs, for reading).
import { assertNever, KubeLbError } from '../../shared/errors.ts';
import type { CiliumVersion, Lb4Profile } from '../lb4/profile.ts';
import { MAGLEV_TABLE_SIZES, DEFAULT_MAGLEV_TABLE_SIZE } from '../lb4/maglev.ts';
import { LB_ALGORITHM } from '../lb4/service-value.ts';
import { DEFAULT_MAGLEV_HASH_SEED, isMaglevHashSeed } from '../maglev/table.ts';

/** Lines whose configuration kube-lb knows. */
export const CONFIGURED_LINES = ['1.17', '1.18', '1.19', '1.20'] as const satisfies readonly CiliumVersion[];
export type ConfiguredLine = (typeof CONFIGURED_LINES)[number];

export type LbAlgorithm = 'random' | 'maglev';
export type LbMode = 'snat' | 'dsr' | 'hybrid';

/** The value kube-lb used for a key, and where it came from. */
export interface CiliumSetting {
  readonly key: string;
  readonly value: string;
  /** 'config': the file; 'alias': a deprecated key's file; 'default': the line's default; 'fixed': not configurable on this line. */
  readonly from: 'config' | 'alias' | 'default' | 'fixed';
}

export interface CiliumDatapathConfig {
  readonly line: ConfiguredLine;
  /** The directory it was read from (named in messages). */
  readonly source: string;
  /**
   * The node-port path, which carries external traffic to a LoadBalancer VIP, is compiled in: kube-proxy
   * replacement on (1.17/1.18 also: enable-node-port). Without it Cilium still creates the lb maps (ClusterIP
   * needs them) but never load-balances a packet that arrives from outside.
   */
  readonly kubeProxyReplacement: boolean;
  /** bpf-lb-algorithm: the node's backend selection. */
  readonly algorithm: LbAlgorithm;
  /** bpf-lb-algorithm-annotation: the datapath reads the per-service algorithm byte. */
  readonly algorithmAnnotation: boolean;
  readonly maglev: { readonly tableSize: number; readonly hashSeed: string };
  /** bpf-lb-mode: how traffic to remote backends leaves the node. */
  readonly mode: LbMode;
  /** bpf-lb-mode-annotation: the datapath reads the per-service forwarding-mode bit (flags2 FWD_MODE_DSR). */
  readonly modeAnnotation: boolean;
  /** loadBalancerSourceRanges are enforced by the datapath. */
  readonly sourceRangeCheck: boolean;
  /** ClientIP session affinity is compiled in. */
  readonly sessionAffinity: boolean;
  /** bpf-lb-proto-diff (1.17/1.18): keys carry the L4 protocol. Always true from 1.19 (the option is gone). */
  readonly protoDiff: boolean;
  /** 1.19+: Cilium writes {VIP, dport 0, proto 0} "drop unknown ports" entries for LB IPs it manages. */
  readonly wildcardEntries: boolean;
  /** Every key kube-lb looked at, in a stable order. */
  readonly settings: readonly CiliumSetting[];
}

export type CiliumConfigErrorCode = 'CILIUM_CONFIG_INVALID' | 'CILIUM_CONFIG_LINE' | 'CILIUM_CONFIG_DIR';

/** A value Cilium would refuse (or kube-lb cannot interpret); names the key and the file. */
export class CiliumConfigError extends KubeLbError {
  readonly key: string | undefined;
  readonly file: string | undefined;

  constructor(code: CiliumConfigErrorCode, message: string, key?: string, file?: string) {
    super(code, message, file === undefined ? {} : { object: { kind: 'CiliumConfig', name: file } });
    this.key = key;
    this.file = file;
  }
}

const TRUE = new Set(['1', 't', 'T', 'true', 'TRUE', 'True']);
const FALSE = new Set(['0', 'f', 'F', 'false', 'FALSE', 'False']);

function isConfiguredLine(line: CiliumVersion): line is ConfiguredLine {
  return (CONFIGURED_LINES as readonly string[]).includes(line);
}

/** Reads keys of one line's configuration, remembering what it used. */
class Reader {
  readonly settings: CiliumSetting[] = [];
  readonly #entries: Readonly<Record<string, string>>;
  readonly #dir: string;

  constructor(entries: Readonly<Record<string, string>>, dir: string) {
    this.#entries = entries;
    this.#dir = dir;
  }

  file(key: string): string {
    return `${this.#dir.replace(/\/+$/, '')}/${key}`;
  }

  fail(key: string, value: string, why: string): never {
    throw new CiliumConfigError(
      'CILIUM_CONFIG_INVALID',
      `Cilium configuration ${this.file(key)}: ${JSON.stringify(value)} ${why}`,
      key,
      this.file(key),
    );
  }

  /** The raw value of `key`, or of its deprecated `alias` (which wins, as in Cilium), or the default. */
  raw(key: string, fallback: string, alias?: string): { value: string; from: CiliumSetting['from']; key: string } {
    const own = this.#entries[key]?.trim();
    const old = alias === undefined ? undefined : this.#entries[alias]?.trim();
    if (old !== undefined && old !== '') {
      if (own !== undefined && own !== '' && own !== old) {
        this.fail(
          key,
          own,
          `contradicts the deprecated ${alias} (${JSON.stringify(old)}) set beside it; Cilium refuses both`,
        );
      }
      return { value: old, from: 'alias', key: alias! };
    }
    if (own !== undefined && own !== '') return { value: own, from: 'config', key };
    return { value: fallback, from: 'default', key };
  }

  bool(key: string, fallback: boolean): boolean {
    const r = this.raw(key, String(fallback));
    const value = TRUE.has(r.value)
      ? true
      : FALSE.has(r.value)
        ? false
        : this.fail(r.key, r.value, 'is not a boolean (true or false)');
    this.settings.push({ key, value: String(value), from: r.from });
    return value;
  }

  oneOf<T extends string>(key: string, allowed: readonly T[], fallback: T, alias?: string): T {
    const r = this.raw(key, fallback, alias);
    if (!(allowed as readonly string[]).includes(r.value))
      this.fail(r.key, r.value, `is not one of ${allowed.join(', ')}`);
    this.settings.push({ key, value: r.value, from: r.from });
    return r.value as T;
  }

  fixed(key: string, value: string): void {
    this.settings.push({ key, value, from: 'fixed' });
  }
}

/**
 * The datapath configuration of a Cilium `line` node from its configuration entries (key = flag name). Keys
 * kube-lb does not need are ignored; a value Cilium would refuse is a CiliumConfigError naming key and file.
 */
export function parseCiliumConfig(
  entries: Readonly<Record<string, string>>,
  line: CiliumVersion,
  dir: string,
): CiliumDatapathConfig {
  if (!isConfiguredLine(line)) {
    throw new CiliumConfigError(
      'CILIUM_CONFIG_LINE',
      `kube-lb reads the configuration of Cilium ${CONFIGURED_LINES.join(', ')}; this node runs ${line}`,
    );
  }
  const r = new Reader(entries, dir);
  const legacy = line === '1.17' || line === '1.18';

  // 1.17/1.18: a string that must be exactly "true" or "false", and enable-node-port alone also compiles the
  // node-port path (daemon/cmd/kube_proxy_replacement.go, pkg/kpr/kpr.go). 1.19+: a boolean, the only switch.
  let kprFull: boolean;
  let kpr: boolean;
  if (legacy) {
    kprFull = r.oneOf('kube-proxy-replacement', ['true', 'false'], 'false') === 'true';
    kpr = r.bool('enable-node-port', false) || kprFull;
  } else {
    kprFull = kpr = r.bool('kube-proxy-replacement', false);
  }

  // The deprecated node-port-* spellings are read by 1.17–1.19 and win over the new ones; 1.20 dropped them.
  const aliases = line !== '1.20';
  const algorithm = r.oneOf<LbAlgorithm>(
    'bpf-lb-algorithm',
    ['random', 'maglev'],
    'random',
    aliases ? 'node-port-algorithm' : undefined,
  );
  const algorithmAnnotation = r.bool('bpf-lb-algorithm-annotation', false);
  const mode = r.oneOf<LbMode>(
    'bpf-lb-mode',
    ['snat', 'dsr', 'hybrid'],
    'snat',
    aliases ? 'node-port-mode' : undefined,
  );
  const modeAnnotation = r.bool('bpf-lb-mode-annotation', false);
  if (modeAnnotation && mode === 'hybrid') {
    // Cilium itself refuses to start with this pair (pkg/loadbalancer/config.go, 1.17: kube_proxy_replacement.go).
    r.fail('bpf-lb-mode', 'hybrid', 'is not accepted by Cilium together with bpf-lb-mode-annotation=true');
  }

  const size = r.raw('bpf-lb-maglev-table-size', String(DEFAULT_MAGLEV_TABLE_SIZE));
  const tableSize = Number(size.value);
  if (!/^\d+$/.test(size.value) || !(MAGLEV_TABLE_SIZES as readonly number[]).includes(tableSize)) {
    r.fail(size.key, size.value, `is not a maglev table size Cilium accepts (${MAGLEV_TABLE_SIZES.join(', ')})`);
  }
  r.settings.push({ key: 'bpf-lb-maglev-table-size', value: size.value, from: size.from });
  const seed = r.raw('bpf-lb-maglev-hash-seed', DEFAULT_MAGLEV_HASH_SEED);
  if (!isMaglevHashSeed(seed.value)) r.fail(seed.key, seed.value, 'is not base64 of 12 bytes');
  r.settings.push({ key: 'bpf-lb-maglev-hash-seed', value: seed.value, from: seed.from });

  let sourceRangeCheck: boolean;
  let sessionAffinity: boolean;
  let protoDiff: boolean;
  let wildcardEntries: boolean;
  switch (line) {
    case '1.17':
    case '1.18':
      // Both lines turn the source-range check off with the node-port path; 1.17 defaults session affinity
      // off (kube-proxy replacement turns it on), 1.18 defaults it on.
      sourceRangeCheck = r.bool('enable-svc-source-range-check', true) && kpr;
      sessionAffinity = r.bool('enable-session-affinity', line === '1.18') || kprFull;
      protoDiff = r.bool('bpf-lb-proto-diff', true);
      wildcardEntries = false;
      break;
    case '1.19':
      r.fixed('enable-svc-source-range-check', 'true');
      r.fixed('enable-session-affinity', 'true');
      r.fixed('bpf-lb-proto-diff', 'true');
      r.fixed('bpf-lb-enable-wildcard-entries', 'true');
      [sourceRangeCheck, sessionAffinity, protoDiff, wildcardEntries] = [kpr, true, true, true];
      break;
    case '1.20':
      r.fixed('enable-svc-source-range-check', 'true');
      r.fixed('enable-session-affinity', 'true');
      r.fixed('bpf-lb-proto-diff', 'true');
      [sourceRangeCheck, sessionAffinity, protoDiff] = [kpr, true, true];
      wildcardEntries = r.bool('bpf-lb-enable-wildcard-entries', true);
      break;
    default:
      return assertNever(line, 'Cilium line');
  }
  return {
    line,
    source: dir,
    kubeProxyReplacement: kpr,
    algorithm,
    algorithmAnnotation,
    maglev: { tableSize, hashSeed: seed.value },
    mode,
    modeAnnotation,
    sourceRangeCheck,
    sessionAffinity,
    protoDiff,
    wildcardEntries,
    settings: r.settings,
  };
}

/**
 * bpf-lb-proto-diff as the entries declare it, before the line is known (the version detection needs it):
 * false only when the file says a false value; parseCiliumConfig validates it properly.
 */
export function declaredProtoDiff(entries: Readonly<Record<string, string>>): boolean | undefined {
  const v = entries['bpf-lb-proto-diff']?.trim();
  return v !== undefined && FALSE.has(v) ? false : undefined;
}

/** Why kube-lb programs nothing on a node. Stable: claim condition reasons, metric labels, doctor lines. */
export const REFUSAL_REASONS = ['CiliumKubeProxyReplacementOff', 'CiliumDSRMode', 'CiliumHybridMode'] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

export type Servability =
  | { readonly ok: true; readonly message: string }
  | { readonly ok: false; readonly reason: RefusalReason; readonly message: string };

/**
 * Whether kube-lb's entries carry traffic the way kube-lb promises on this node: SNAT towards the consumer
 * nodes' NodePorts, which cannot handle DSR. The per-service forwarding-mode bit (flags2 FWD_MODE_DSR, 1.17+)
 * decides only where Cilium compiles ENABLE_DSR_BYUSER; kube-lb leaves the bit clear, which is SNAT there:
 *  - 1.17/1.18: BYUSER with bpf-lb-mode-annotation; hybrid without it is "DSR for TCP" with no per-service say.
 *  - 1.19+: BYUSER with bpf-lb-mode-annotation or with hybrid mode.
 */
export function servability(config: CiliumDatapathConfig): Servability {
  const where = `Cilium ${config.line} (${config.source})`;
  if (!config.kubeProxyReplacement) {
    return {
      ok: false,
      reason: 'CiliumKubeProxyReplacementOff',
      message: `${where} runs without kube-proxy replacement: its node-port path, which load-balances traffic arriving from outside, is not compiled, so VIP entries would carry nothing`,
    };
  }
  const perService = config.modeAnnotation || (config.mode === 'hybrid' && !isLegacyLine(config.line));
  switch (config.mode) {
    case 'snat':
      return { ok: true, message: `${where}: SNAT to remote backends` };
    case 'dsr':
      return perService
        ? {
            ok: true,
            message: `${where}: DSR by default, SNAT for kube-lb's services (per-service forwarding mode, FWD_MODE_DSR left clear)`,
          }
        : {
            ok: false,
            reason: 'CiliumDSRMode',
            message: `${where} forwards every service with DSR (bpf-lb-mode=dsr without bpf-lb-mode-annotation); consumer nodes cannot answer DSR traffic for a VIP they do not hold`,
          };
    case 'hybrid':
      return perService
        ? {
            ok: true,
            message: `${where}: hybrid mode decides per service; SNAT for kube-lb's services (FWD_MODE_DSR left clear)`,
          }
        : {
            ok: false,
            reason: 'CiliumHybridMode',
            message: `${where} forwards TCP with DSR in hybrid mode and ${config.line} has no per-service SNAT for it; consumer nodes cannot answer DSR traffic`,
          };
    default:
      return assertNever(config.mode, 'bpf-lb-mode');
  }
}

function isLegacyLine(line: ConfiguredLine): boolean {
  return line === '1.17' || line === '1.18';
}

/**
 * The line's profile as this node's configuration changes it: with bpf-lb-proto-diff off (1.17/1.18) the
 * datapath looks keys up with protocol 0 only and has no fallback, so kube-lb's keys must carry 0.
 */
export function profileUnder(profile: Lb4Profile, config: CiliumDatapathConfig): Lb4Profile {
  if (config.protoDiff) return profile;
  return {
    ...profile,
    keyProto: 'any',
    protoFallback: false,
    maglevHashProto: config.line === '1.17' ? 'any' : profile.maglevHashProto,
  };
}

/** The per-service algorithm byte (high 8 bits of the master's u32 union, 1.17+): 1 random, 2 maglev. */
export function algorithmCode(algorithm: LbAlgorithm): number {
  switch (algorithm) {
    case 'random':
      return LB_ALGORITHM.RANDOM;
    case 'maglev':
      return LB_ALGORITHM.MAGLEV;
    default:
      return assertNever(algorithm, 'bpf-lb-algorithm');
  }
}
