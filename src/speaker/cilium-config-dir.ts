// Reads a Cilium configuration directory the way `cilium-agent --config-dir` does (pkg/option ReadDirConfig):
// every regular file (symlinks followed) is one key named after the file, its content trimmed of white space
// is the value; directories, and symlinks to directories, are skipped. That is exactly the layout Kubernetes
// gives a mounted ConfigMap: `..data` and the timestamped directory are skipped, each key is a symlink to a file.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CiliumConfigError } from '../core/cilium/config.ts';

export const DEFAULT_CILIUM_CONFIG_DIR = '/etc/cilium/config-map';

export function readCiliumConfigDir(dir: string): Record<string, string> {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    throw new CiliumConfigError(
      'CILIUM_CONFIG_DIR',
      `cannot read Cilium's configuration directory ${dir} (${code}): mount the cilium-config ConfigMap there, or point --cilium-config-dir at the directory cilium-agent --config-dir reads`,
      undefined,
      dir,
    );
  }
  const entries: Record<string, string> = {};
  for (const name of names.sort()) {
    const path = join(dir, name);
    try {
      if (!statSync(path).isFile()) continue;
      entries[name] = readFileSync(path, 'utf8').trim();
    } catch {
      // A dangling link or a file removed while reading (a ConfigMap update swapping ..data): Cilium skips it too.
    }
  }
  return entries;
}
