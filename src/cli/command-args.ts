// What the kube-lb subcommands share: the output streams (passed in so tests capture them), the exit codes, and
// the flags several commands take, declared once (-o, --kubeconfig, --context) with commander.
import { InvalidArgumentError, Option, type Command } from 'commander';
import type * as k8s from '@kubernetes/client-node';
import { parseDuration } from '../shared/config.ts';
import { OUTPUT_FORMATS, type OutputFormat } from './output.ts';

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

/** Exit codes: 0 ok, 1 the command ran and found a problem (or refused, or the API failed), 2 usage error. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** `-o FORMAT`, the same choices on every command; `fallback` is the format when -o is not given. */
export function outputOption(fallback: OutputFormat = 'table'): Option {
  return new Option('-o, --output <format>', 'output format').choices(OUTPUT_FORMATS).default(fallback);
}

export interface ConnectionFlags {
  kubeconfig?: string;
  context?: string;
}

/** --kubeconfig and --context, for the commands that talk to the LB cluster's API. */
export function withConnection(command: Command): Command {
  return command
    .option(
      '--kubeconfig <file>',
      'kubeconfig of the LB cluster (default: $KUBECONFIG, merged as kubectl does, else ~/.kube/config)',
    )
    .option('--context <name>', 'kubeconfig context to use instead of the current one');
}

/** The kubeconfig --kubeconfig, --context and KUBECONFIG choose (loaded on use: the client is slow to import). */
export async function kubeConfigFor(flags: ConnectionFlags, io: CliIO): Promise<k8s.KubeConfig> {
  const { loadMergedKubeConfig } = await import('../kube/kubeconfig.ts');
  return loadMergedKubeConfig({ kubeconfig: flags.kubeconfig, context: flags.context, env: io.env });
}

// Value parsers for commander options: a bad value is a usage error naming the flag (commander adds the flag).

export function wholeNumber(text: string): number {
  if (!/^\d+$/.test(text)) throw new InvalidArgumentError('must be a whole number');
  return Number(text);
}

export function duration(min: number): (text: string) => number {
  return (text) => {
    const ms = text === '0' ? 0 : parseDuration(text);
    if (ms === undefined) throw new InvalidArgumentError('must be a duration such as 500ms, 2s or 1h');
    if (ms < min) throw new InvalidArgumentError(`must be at least ${min} ms`);
    return ms;
  };
}

/** Repeatable and comma-separated: `--backend-cidr A --backend-cidr B,C` is [A, B, C]. */
export function collect(text: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), ...text.split(',').filter((x) => x !== '')];
}
