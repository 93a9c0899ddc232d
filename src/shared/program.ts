// What every program's main does first: know its version, and parse its flags or exit with usage.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeOptions, parseConfig, type ConfigOf, type OptionSpec } from './config.ts';
import { ConfigError } from './errors.ts';

/** The version in package.json. */
export function packageVersion(): string {
  const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
  return (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
}

/**
 * Parses argv and the environment; on a bad flag prints the error and usage and exits 2; with --help (when
 * the program declares it) prints usage and exits 0.
 */
export function parseFlagsOrExit<Specs extends Record<string, OptionSpec>>(program: string, specs: Specs, version: string): ConfigOf<Specs> {
  // --help before parsing, so a program with required flags can still show its usage.
  if ('help' in specs && process.argv.slice(2).includes('--help')) {
    console.log(`kube-lb ${program} ${version}\n${describeOptions(specs)}`);
    process.exit(0);
  }
  let config: ConfigOf<Specs>;
  try {
    config = parseConfig(specs, process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`${err.message}\n\nusage: kube-lb ${program} [flags]\n${describeOptions(specs)}`);
      process.exit(2);
    }
    throw err;
  }
  if ((config as Record<string, unknown>)['help'] === true) {
    console.log(`kube-lb ${program} ${version}\n${describeOptions(specs)}`);
    process.exit(0);
  }
  return config;
}
