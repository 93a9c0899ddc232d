// `kube-lb maps list [--dir DIR] [--cilium-version auto|1.x] [-o FORMAT]`: prints Cilium's lb4 frontends with
// their backends, reverse NAT and flags, marking which belong to kube-lb. Opens the maps read-only; never writes.
import type { Command } from 'commander';
import { classify } from '../core/dataplane/ownership.ts';
import { formatListing, listFrontends, type ListedFrontend } from '../core/dataplane/listing.ts';
import { DEFAULT_MAP_DIR } from '../core/lb4/maps.ts';
import { CILIUM_VERSION_RANGE } from '../core/lb4/profile.ts';
import { EXIT, outputOption, type CliIO } from './command-args.ts';
import { render, type OutputFormat, type View } from './output.ts';
import type { CliContext } from './program.ts';

interface MapsListFlags {
  dir: string;
  ciliumVersion: string;
  output: OutputFormat;
}

export function registerMaps(parent: Command, ctx: CliContext): void {
  const maps = parent.command('maps').description("Cilium's lb4 maps on this node");
  maps
    .command('list')
    .description("Cilium's lb4 frontends on this node with backends, reverse NAT and flags; kube-lb's marked")
    .option('--dir <dir>', "directory of Cilium's pinned maps", DEFAULT_MAP_DIR)
    .option('--cilium-version <version>', `Cilium version (${CILIUM_VERSION_RANGE}) or auto`, 'auto')
    .addOption(outputOption())
    .action(async (flags: MapsListFlags) => ctx.finish(await mapsList(flags, ctx.io)));
}

async function mapsList(flags: MapsListFlags, io: CliIO): Promise<number> {
  // Imported here, not above: they load the native addon, which help and completion do not need.
  const { openLb4Maps } = await import('../speaker/dataplane/native-maps.ts');
  const { readSnapshot } = await import('../speaker/dataplane/maps.ts');
  // A refusal (no bpffs, a map of the wrong shape) is a KubeLbError: the program prints its code and exits 1.
  const opened = openLb4Maps({
    dir: flags.dir,
    ciliumVersion: flags.ciliumVersion,
    readOnly: true,
    guessVersion: true,
  });
  try {
    const snapshot = readSnapshot(opened.maps);
    const frontends = listFrontends(snapshot, opened.profile, classify(snapshot, opened.profile));
    io.out(
      render(
        flags.output,
        mapsListView({
          dir: opened.dir,
          ciliumVersion: opened.profile.version,
          evidence: opened.detection.reasons,
          frontends,
        }),
      ),
    );
    return EXIT.ok;
  } finally {
    opened.maps.close();
  }
}

export interface MapsListing {
  dir: string;
  ciliumVersion: string;
  /** Why this version profile was chosen. */
  evidence: readonly string[];
  frontends: readonly ListedFrontend[];
}

/** table: cilium-dbg's service-list layout; name: every frontend as frontend/ADDRESS:PORT/PROTO (internal: /i). */
export function mapsListView(listing: MapsListing): View {
  return {
    data: listing,
    names: listing.frontends.map((f) => `frontend/${f.frontend}${f.scope === 'internal' ? '/i' : ''}`),
    human: () => [{ text: formatListing(listing.frontends) }],
  };
}
