// What `kube-lb doctor` reads on an LB node: bpffs, Cilium's pinned lb4 maps and their shapes (through the
// speaker's own read-only open), Cilium's configuration directory, capabilities, the kernel, and the ARP sysctls
// of the announcing interface, and whether the change-events program loads. Read-only. Loaded only when doctor runs (it loads the native addon).
import { accessSync, constants, existsSync, readFileSync, statfsSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { declaredProtoDiff, parseCiliumConfig, servability } from '../core/cilium/config.ts';
import {
  parseCapEff,
  type CiliumConfigFact,
  type DoctorFacts,
  type MapFact,
  type ProfileFact,
  type SysctlFact,
} from '../core/doctor/diagnose.ts';
import { isCiliumVersion, profileFor, type CiliumVersion } from '../core/lb4/profile.ts';
import { LB4_MAPS, shapeMismatch, type Lb4MapRole } from '../core/lb4/maps.ts';
import { BpfError, BpfMap } from '../native/bpf.ts';
import { MapWatch } from '../native/map-watch.ts';
import { ConfigError, KubeLbError } from '../shared/errors.ts';
import { readCiliumConfigDir } from '../speaker/cilium-config-dir.ts';
import { DataplaneMapError } from '../speaker/dataplane/errors.ts';
import { openLb4Maps } from '../speaker/dataplane/native-maps.ts';

interface GatherOptions {
  mapDir: string;
  ciliumVersion: string;
  ciliumConfigDir: string;
  procSys: string;
  iface: string | undefined;
}

export function gatherFacts(o: GatherOptions): DoctorFacts {
  const mapDirFsType = fsType(o.mapDir);
  const maps =
    mapDirFsType === undefined ? [] : (Object.keys(LB4_MAPS) as Lb4MapRole[]).map((role) => mapFact(o.mapDir, role));
  // The version decision reads the maps through the speaker's own open, which refuses any shape problem that
  // the per-map findings already report: ask it only when every map is usable.
  const mapsSound = maps.every((m) =>
    m.state === 'present'
      ? shapeMismatch(LB4_MAPS[m.role], m.shape) === undefined
      : m.state === 'missing' && LB4_MAPS[m.role].optional,
  );
  const iface = o.iface ?? defaultRouteInterface();
  const profile: ProfileFact =
    mapDirFsType !== undefined && maps.length > 0 && mapsSound
      ? profileFact(o.mapDir, o.ciliumVersion, o.ciliumConfigDir)
      : { state: 'skipped' };
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
    changeEvents: changeEventsFact(),
  };
}

/** Loads the speaker's change-events program and detaches it at once (it writes nothing). */
function changeEventsFact(): DoctorFacts['changeEvents'] {
  try {
    MapWatch.open().close();
    return { state: 'available' };
  } catch (err) {
    return { state: 'unavailable', message: (err as Error).message };
  }
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
    const opened = openLb4Maps({
      dir,
      ciliumVersion: configured,
      readOnly: true,
      ...(protoDiff === undefined ? {} : { protoDiff }),
    });
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
