// What the kube-lb subcommands share: positional arguments before flags, repeatable list flags
// (`--backend-cidr A --backend-cidr B` means both), and output streams passed in so tests capture them.
import { parseConfig, type ConfigOf, type OptionSpec } from '../shared/config.ts';

export interface CliIO {
  out(text: string): void;
  err(text: string): void;
  env: Readonly<Record<string, string | undefined>>;
}

export const processIO: CliIO = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  env: process.env,
};

/** Exit codes: 0 ok, 1 the command ran and found a problem (or refused), 2 usage error. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

export interface ParsedCommand<Specs extends Record<string, OptionSpec>> {
  positionals: string[];
  config: ConfigOf<Specs>;
}

/**
 * Splits leading positionals from flags, joins repeated list flags with commas, then parses with the shared
 * option table (unknown flags and bad values are ConfigErrors naming the flag).
 */
export function parseCommand<Specs extends Record<string, OptionSpec>>(
  specs: Specs,
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): ParsedCommand<Specs> {
  const positionals: string[] = [];
  let i = 0;
  while (i < argv.length && !argv[i]!.startsWith('--')) positionals.push(argv[i++]!);
  const lists = new Map<string, string[]>();
  const rest: string[] = [];
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') ? arg.slice(2, eq === -1 ? undefined : eq) : '';
    if (specs[name]?.kind === 'list') {
      const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
      if (value !== undefined) lists.set(name, [...(lists.get(name) ?? []), value]);
      else rest.push(arg);
      continue;
    }
    rest.push(arg);
  }
  for (const [name, values] of lists) rest.push(`--${name}=${values.join(',')}`);
  return { positionals, config: parseConfig(specs, rest, env) };
}
