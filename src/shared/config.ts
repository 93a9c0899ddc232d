// Configuration from command-line flags and environment variables, declared once per program as a table of
// options. Parsing is pure (argv and env are passed in) and every error names the flag and the bad value.
import { assertNever, ConfigError } from './errors.ts';

type Kind = 'string' | 'int' | 'bool' | 'duration' | 'list';

interface OptionBase<K extends Kind, T> {
  kind: K;
  /** Environment variable that may supply the value (flags win). */
  env?: string;
  default?: T;
  required?: boolean;
  help: string;
  /** Returns an error message when the value is unacceptable. */
  check?: (value: T) => string | undefined;
  /** For strings: the only accepted values. */
  oneOf?: readonly string[];
  /** For ints and durations (ms): inclusive bounds. */
  min?: number;
  max?: number;
}

export type OptionSpec =
  | OptionBase<'string', string>
  | OptionBase<'int', number>
  | OptionBase<'bool', boolean>
  | OptionBase<'duration', number>
  | OptionBase<'list', string[]>;

// The value type follows from `kind` (inferring it from `default`/`check` fails for options that have neither).
type KindValue<K extends Kind> = K extends 'string'
  ? string
  : K extends 'int' | 'duration'
    ? number
    : K extends 'bool'
      ? boolean
      : string[];
type ValueOf<S extends OptionSpec> = S extends { required: true } | { default: unknown }
  ? KindValue<S['kind']>
  : KindValue<S['kind']> | undefined;

export type ConfigOf<Specs extends Record<string, OptionSpec>> = { [K in keyof Specs]: ValueOf<Specs[K]> };

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "250ms", "1.5s", "2m", "1h" → milliseconds. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION.exec(text.trim());
  return m ? Math.round(Number(m[1]) * UNIT_MS[m[2]!]!) : undefined;
}

function convert(name: string, spec: OptionSpec, raw: string): unknown {
  switch (spec.kind) {
    case 'string':
      if (spec.oneOf && !spec.oneOf.includes(raw)) {
        throw new ConfigError(name, raw, `must be one of ${spec.oneOf.join(', ')}`);
      }
      return raw;
    case 'int': {
      if (!/^-?\d+$/.test(raw)) throw new ConfigError(name, raw, 'must be a whole number');
      return bounded(name, spec, raw, Number(raw));
    }
    case 'duration': {
      const ms = parseDuration(raw);
      if (ms === undefined) throw new ConfigError(name, raw, 'must be a duration such as 500ms, 2s or 1m');
      return bounded(name, spec, raw, ms);
    }
    case 'bool':
      if (['true', '1', 'yes', ''].includes(raw)) return true;
      if (['false', '0', 'no'].includes(raw)) return false;
      throw new ConfigError(name, raw, 'must be true or false');
    case 'list':
      return raw
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    default:
      return assertNever(spec, 'option kind');
  }
}

function bounded(name: string, spec: OptionSpec, raw: string, n: number): number {
  if (spec.min !== undefined && n < spec.min) throw new ConfigError(name, raw, `must be at least ${spec.min}`);
  if (spec.max !== undefined && n > spec.max) throw new ConfigError(name, raw, `must be at most ${spec.max}`);
  return n;
}

/**
 * Parses `--name=value`, `--name value` and bare `--flag` (booleans) from argv, then the environment, then
 * defaults. Unknown flags are errors: a typo must not silently fall back to a default.
 */
export function parseConfig<Specs extends Record<string, OptionSpec>>(
  specs: Specs,
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): ConfigOf<Specs> {
  const fromFlags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new ConfigError(arg, undefined, 'unexpected argument (flags start with --)');
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    const spec = specs[name];
    if (!spec) throw new ConfigError(name, undefined, `unknown flag (known: ${Object.keys(specs).join(', ')})`);
    if (eq !== -1) fromFlags.set(name, arg.slice(eq + 1));
    else if (spec.kind === 'bool' && !(argv[i + 1] !== undefined && /^(true|false)$/.test(argv[i + 1]!)))
      fromFlags.set(name, 'true');
    else if (i + 1 < argv.length) fromFlags.set(name, argv[++i]!);
    else throw new ConfigError(name, undefined, 'needs a value');
  }
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(specs)) {
    const raw = fromFlags.get(name) ?? (spec.env ? env[spec.env] : undefined);
    if (raw === undefined) {
      if (spec.required)
        throw new ConfigError(name, undefined, `is required${spec.env ? ` (or set ${spec.env})` : ''}`);
      out[name] = spec.default;
      continue;
    }
    const value = convert(name, spec, raw);
    const problem = (spec.check as ((v: unknown) => string | undefined) | undefined)?.(value);
    if (problem) throw new ConfigError(name, raw, problem);
    out[name] = value;
  }
  return out as ConfigOf<Specs>;
}

/** One line per option, for --help. */
export function describeOptions(specs: Record<string, OptionSpec>): string {
  return Object.entries(specs)
    .map(([name, s]) => {
      const def = s.default === undefined ? '' : ` (default ${JSON.stringify(s.default)})`;
      const env = s.env ? ` [$${s.env}]` : '';
      return `  --${name.padEnd(28)} ${s.help}${def}${env}`;
    })
    .join('\n');
}
