// `kube-lb maps list [--dir DIR] [-o json] [--cilium-version auto|1.x]`: prints Cilium's lb4 frontends with
// their backends, reverse NAT and flags, marking which belong to kube-lb. Opens the maps read-only; never writes.
import { classify } from '../core/dataplane/ownership.ts';
import { formatListing, listFrontends } from '../core/dataplane/listing.ts';
import { DEFAULT_MAP_DIR } from '../core/lb4/maps.ts';
import { CILIUM_VERSION_RANGE } from '../core/lb4/profile.ts';
import { describeOptions, type OptionSpec } from '../shared/config.ts';
import { KubeLbError } from '../shared/errors.ts';
import { openLb4Maps } from '../speaker/dataplane/native-maps.ts';
import { readSnapshot } from '../speaker/dataplane/maps.ts';
import { EXIT, parseCommand, type CliIO } from './command-args.ts';

const OPTIONS = {
  dir: { kind: 'string', default: DEFAULT_MAP_DIR, help: "directory of Cilium's pinned maps" },
  output: { kind: 'string', default: 'text', oneOf: ['text', 'json'], help: 'output format (-o json)' },
  'cilium-version': { kind: 'string', default: 'auto', help: `Cilium version (${CILIUM_VERSION_RANGE}) or auto` },
} as const satisfies Record<string, OptionSpec>;

const USAGE = `usage: kube-lb maps list [--dir DIR] [-o json] [--cilium-version auto|1.x]\n${describeOptions(OPTIONS)}\n`;

/** `-o json` and `-o=json` as the long flag. */
function expandShortFlags(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-o') out.push(`--output=${argv[++i] ?? ''}`);
    else if (a.startsWith('-o=')) out.push(`--output=${a.slice(3)}`);
    else out.push(a);
  }
  return out;
}

export async function mapsCommand(argv: readonly string[], io: CliIO): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'list') {
    io.err(USAGE);
    return EXIT.usage;
  }
  let config;
  try {
    config = parseCommand(OPTIONS, expandShortFlags(rest), io.env).config;
  } catch (err) {
    io.err(`${(err as Error).message}\n${USAGE}`);
    return EXIT.usage;
  }
  let opened;
  try {
    opened = openLb4Maps({ dir: config.dir, ciliumVersion: config['cilium-version'], readOnly: true, guessVersion: true });
  } catch (err) {
    io.err(`kube-lb maps list: ${err instanceof KubeLbError ? `${err.code}: ` : ''}${(err as Error).message}\n`);
    return EXIT.failed;
  }
  try {
    const snapshot = readSnapshot(opened.maps);
    const frontends = listFrontends(snapshot, opened.profile, classify(snapshot, opened.profile));
    if (config.output === 'json') {
      io.out(
        `${JSON.stringify(
          { dir: opened.dir, ciliumVersion: opened.profile.version, evidence: opened.detection.reasons, frontends },
          null,
          2,
        )}\n`,
      );
    } else {
      io.out(formatListing(frontends));
    }
    return EXIT.ok;
  } finally {
    opened.maps.close();
  }
}
