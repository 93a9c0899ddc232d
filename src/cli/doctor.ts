// `kube-lb doctor`: run on an LB node (or in the speaker's container, or `ip netns exec NODE` in the test
// topology). Gathers what the speaker depends on and prints what would stop it: bpffs, Cilium's pinned lb4 maps
// and their shapes, the Cilium version profile the entries match, whether Cilium's configuration
// (--cilium-config-dir) is one kube-lb can serve, capabilities, and the ARP sysctls of the announcing interface.
// Exit 0 when ready, 1 when not, 2 on a usage error. Read-only: it opens maps read-only and writes nothing.
import { accessSync, constants, existsSync, readFileSync, statfsSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { declaredProtoDiff, parseCiliumConfig, servability } from '../core/cilium/config.ts';
import {
  diagnose,
  formatDiagnosis,
  parseCapEff,
  type CiliumConfigFact,
  type Diagnosis,
  type DoctorFacts,
  type MapFact,
  type ProfileFact,
  type SysctlFact,
} from '../core/doctor/diagnose.ts';
import { isCiliumVersion, profileFor, type CiliumVersion } from '../core/lb4/profile.ts';
import { DEFAULT_CILIUM_CONFIG_DIR, readCiliumConfigDir } from '../speaker/cilium-config-dir.ts';
import { DEFAULT_MAP_DIR, LB4_MAPS, shapeMismatch, type Lb4MapRole } from '../core/lb4/maps.ts';
import { BpfError, BpfMap } from '../native/bpf.ts';
import { DataplaneMapError } from '../speaker/dataplane/errors.ts';
import { openLb4Maps } from '../speaker/dataplane/native-maps.ts';
import type { Command } from 'commander';
import { ConfigError, KubeLbError } from '../shared/errors.ts';
import { EXIT, outputOption, processIO, type CliIO } from './command-args.ts';
import { render, type OutputFormat, type View } from './output.ts';
import type { CliContext } from './program.ts';

interface DoctorFlags {
  mapDir: string;
  ciliumVersion: string;
  ciliumConfigDir: string;
  procSysDir?: string;
  interface?: string;
  output: OutputFormat;
}

export function registerDoctor(parent: Command, ctx: CliContext): void {
  parent
    .command('doctor')
    .description('on an LB node (as root): bpffs, Cilium maps and version profile, Cilium configuration, capabilities, ARP sysctls')
    .option('--map-dir <dir>', "directory of Cilium's pinned lb4 maps", DEFAULT_MAP_DIR)
    .option('--cilium-version <version>', 'the speaker\'s --cilium-version ("auto": detect from the maps)', 'auto')
    .option('--cilium-config-dir <dir>', "the speaker's --cilium-config-dir: Cilium's configuration directory", DEFAULT_CILIUM_CONFIG_DIR)
    .option('--proc-sys-dir <dir>', "where the node's net sysctls are (default $KUBE_LB_PROC_SYS_DIR, else /proc/sys; the speaker container sets /host/proc/sys)")
    .option('--interface <name>', "interface that answers ARP (default: the IPv4 default route's)")
    .addOption(outputOption())
    .action((flags: DoctorFlags) => ctx.finish(doctor(flags, ctx.io)));
}

function doctor(flags: DoctorFlags, io: CliIO): number {
  const diagnosis = diagnose(
    gatherFacts({
      mapDir: flags.mapDir,
      ciliumVersion: flags.ciliumVersion,
      ciliumConfigDir: flags.ciliumConfigDir,
      procSys: flags.procSysDir ?? io.env['KUBE_LB_PROC_SYS_DIR'] ?? '/proc/sys',
      iface: flags.interface,
    }),
  );
  io.out(render(flags.output, doctorView(diagnosis)));
  return diagnosis.ready ? EXIT.ok : EXIT.failed;
}

/** table: the findings with their hints and the verdict; name: the checks that fail (none when ready). */
export function doctorView(diagnosis: Diagnosis): View {
  return {
    data: { ready: diagnosis.ready, profile: diagnosis.profile ?? null, findings: diagnosis.findings },
    names: diagnosis.findings.filter((f) => f.severity === 'fail').map((f) => `check/${f.check.replaceAll(' ', '-')}`),
    human: () => [{ text: formatDiagnosis(diagnosis) }],
  };
}

/** `kube-lb doctor ARGS…` (kept for callers that run the one command; the same as main(['doctor', …])). */
export async function doctorCommand(argv: readonly string[], io: CliIO = processIO): Promise<number> {
  const { main } = await import('./main.ts');
  return main(['doctor', ...argv], io);
}

interface GatherOptions {
  mapDir: string;
  ciliumVersion: string;
  ciliumConfigDir: string;
  procSys: string;
  iface: string | undefined;
}

export function gatherFacts(o: GatherOptions): DoctorFacts {
  const mapDirFsType = fsType(o.mapDir);
  const maps = mapDirFsType === undefined ? [] : (Object.keys(LB4_MAPS) as Lb4MapRole[]).map((role) => mapFact(o.mapDir, role));
  // The version decision reads the maps through the speaker's own open, which refuses any shape problem that
  // the per-map findings already report: ask it only when every map is usable.
  const mapsSound = maps.every((m) =>
    m.state === 'present' ? shapeMismatch(LB4_MAPS[m.role], m.shape) === undefined : m.state === 'missing' && LB4_MAPS[m.role].optional,
  );
  const iface = o.iface ?? defaultRouteInterface();
  const profile: ProfileFact = mapDirFsType !== undefined && maps.length > 0 && mapsSound ? profileFact(o.mapDir, o.ciliumVersion, o.ciliumConfigDir) : { state: 'skipped' };
  return {
    mapDir: o.mapDir,
    mapDirFsType,
    maps,
    profile,
    ciliumConfig: ciliumConfigFact(o.ciliumConfigDir, o.ciliumVersion, profile),
    effectiveCaps: readOr('/proc/self/status', parseCapEff),
    kernel: release(),
    interface: iface,
    sysctls: iface === undefined ? [] : arpSysctls(o.procSys, iface),
  };
}

function fsType(path: string): number | undefined {
  try {
    return Number(statfsSync(path).type);
  } catch {
    return undefined;
  }
}

function mapFact(dir: string, role: Lb4MapRole): MapFact {
  const path = join(dir, LB4_MAPS[role].name);
  if (!existsSync(path)) return { role, state: 'missing' };
  try {
    using map = BpfMap.open(path, { readOnly: true });
    const { type, keySize, valueSize, maxEntries, flags } = map.info;
    return { role, state: 'present', shape: { type, keySize, valueSize, maxEntries, flags } };
  } catch (err) {
    if (err instanceof BpfError) return { role, state: 'error', errno: err.errno, message: err.message };
    return { role, state: 'error', errno: 'EUNKNOWN', message: (err as Error).message };
  }
}

/** The speaker's own open (read-only): same shape checks and the same version decision it would make. */
function profileFact(dir: string, configured: string, configDir: string): ProfileFact {
  let protoDiff: boolean | undefined;
  try {
    protoDiff = declaredProtoDiff(readCiliumConfigDir(configDir));
  } catch {
    // Reported by the Cilium configuration check.
  }
  try {
    const opened = openLb4Maps({ dir, ciliumVersion: configured, readOnly: true, ...(protoDiff === undefined ? {} : { protoDiff }) });
    opened.maps.close();
    return { state: 'decided', configured, version: opened.profile.version, detection: opened.detection };
  } catch (err) {
    if (err instanceof DataplaneMapError) return { state: 'refused', configured, code: err.code, message: err.message };
    if (err instanceof ConfigError) return { state: 'refused', configured, code: err.code, message: err.message };
    return { state: 'refused', configured, code: 'UNKNOWN', message: (err as Error).message };
  }
}

/** The speaker's reading of Cilium's configuration, for the line the maps (or --cilium-version) decide. */
function ciliumConfigFact(dir: string, configured: string, profile: ProfileFact): CiliumConfigFact {
  let line: CiliumVersion;
  if (profile.state === 'decided' && isCiliumVersion(profile.version)) line = profile.version;
  else if (configured !== 'auto') {
    try {
      line = profileFor(configured).version;
    } catch (err) {
      return { state: 'skipped', dir, why: (err as Error).message };
    }
  } else return { state: 'skipped', dir, why: 'the Cilium line is not decided (see "cilium version")' };
  try {
    const config = parseCiliumConfig(readCiliumConfigDir(dir), line, dir);
    return { state: 'read', dir, config, servability: servability(config) };
  } catch (err) {
    if (err instanceof KubeLbError) return { state: 'refused', dir, code: err.code, message: err.message };
    throw err;
  }
}

/** Interface of the IPv4 default route in this network namespace (/proc/net/route: destination 00000000). */
function defaultRouteInterface(): string | undefined {
  return readOr('/proc/net/route', (text) => {
    for (const line of text.split('\n').slice(1)) {
      const [ifname, destination, , , , , , mask] = line.trim().split(/\s+/);
      if (destination === '00000000' && mask === '00000000' && ifname) return ifname;
    }
    return undefined;
  });
}

/** The per-interface settings the kernel needs to answer ARP for proxied VIPs (src/speaker/l2/sysctl.ts). */
function arpSysctls(procSys: string, iface: string): SysctlFact[] {
  const wanted: Array<[string, string]> = [
    [`net/ipv4/conf/${iface}/forwarding`, '1'],
    [`net/ipv4/neigh/${iface}/proxy_delay`, '0'],
  ];
  return wanted.map(([rel, value]) => {
    const path = join(procSys, rel);
    let writable = false;
    try {
      accessSync(path, constants.W_OK);
      writable = true;
    } catch {
      // Read-only /proc/sys (a container without the host mount) or no such interface.
    }
    return { name: rel.replaceAll('/', '.'), value: readOr(path, (t) => t.trim()), wanted: value, writable };
  });
}

function readOr<T>(path: string, parse: (text: string) => T): T | undefined {
  try {
    return parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}
