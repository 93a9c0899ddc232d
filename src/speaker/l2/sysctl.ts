// The per-interface sysctls the kernel needs before it answers ARP for a proxied VIP (arp_process in
// net/ipv4/arp.c): forwarding on the receiving interface (otherwise the request's route lookup fails and the
// proxy table is never consulted), and proxy_delay 0 (otherwise broadcast requests are queued and answered up
// to 0.8 s later). Written through /proc/sys of the speaker's own network namespace; only for interfaces that
// announce, never globally.
import { readFile, writeFile } from 'node:fs/promises';
import { KubeLbError } from '../../shared/errors.ts';

export class SysctlError extends KubeLbError {
  readonly path: string;
  constructor(path: string, cause: unknown) {
    super('L2_SYSCTL', `${path}: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.path = path;
  }
}

export interface SysctlSetting {
  readonly path: string;
  readonly value: string;
}

/** Where the node's sysctls are: /proc/sys, or the host's mounted elsewhere in a container (/host/proc/sys). */
export const DEFAULT_PROC_SYS_DIR = '/proc/sys';

export function proxyArpSettings(ifname: string, procSys = DEFAULT_PROC_SYS_DIR): SysctlSetting[] {
  return [
    { path: `${procSys}/net/ipv4/conf/${ifname}/forwarding`, value: '1' },
    { path: `${procSys}/net/ipv4/neigh/${ifname}/proxy_delay`, value: '0' },
  ];
}

/** The sink link has no business with IPv6 (no link-local address, no router solicitations). */
export function sinkSettings(ifname: string, procSys = DEFAULT_PROC_SYS_DIR): SysctlSetting[] {
  return [{ path: `${procSys}/net/ipv6/conf/${ifname}/disable_ipv6`, value: '1' }];
}

/** Writes each setting whose current value differs; returns the paths it changed. */
export async function applySysctls(
  settings: readonly SysctlSetting[],
  options: { optional?: boolean } = {},
): Promise<string[]> {
  const changed: string[] = [];
  for (const s of settings) {
    try {
      const current = (await readFile(s.path, 'utf8')).trim();
      if (current === s.value) continue;
      await writeFile(s.path, s.value);
      changed.push(s.path);
    } catch (err) {
      if (options.optional && (err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new SysctlError(s.path, err);
    }
  }
  return changed;
}
