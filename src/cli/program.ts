// The kube-lb command tree, built with commander afresh for each run (commander keeps parse state on its Command
// objects, so one tree per run keeps no state between runs or tests). Every command module adds its own
// subcommand through `register`; this module owns what is the same for all of them: the program name (kube-lb,
// or "kubectl kube-lb" when run as the kubectl plugin), help and error output through the run's streams, and the
// exit codes (0 ok, 1 failed, 2 usage).
import { Command, CommanderError } from 'commander';
import { ConfigError, KubeLbError, UsageError } from '../shared/errors.ts';
import { packageVersion } from '../shared/version.ts';
import { EXIT, type CliIO } from './command-args.ts';

/** What a command's action gets: the streams, and where to put its exit code. */
export interface CliContext {
  readonly io: CliIO;
  finish(code: number): void;
}

export type Register = (parent: Command, ctx: CliContext) => void;

/** Set by the launcher when it runs as kubectl-kube_lb, so help and errors name the command the user typed. */
export const PROGRAM_NAME_ENV = 'KUBE_LB_PROGRAM_NAME';

export function programName(io: CliIO): string {
  return io.env[PROGRAM_NAME_ENV] || 'kube-lb';
}

const EXIT_CODES_HELP = `
Exit codes: 0 success; 1 the command ran and found a problem, was refused, or could not reach what it reads;
2 usage error (unknown command or flag, bad value).`;

export function buildProgram(ctx: CliContext, commands: readonly Register[]): Command {
  const program = new Command(programName(ctx.io))
    .description('kube-lb: L4 LoadBalancer for bare-metal Kubernetes; operate the LB cluster and its nodes')
    .version(packageVersion(), '--version', 'print the version')
    .configureOutput({ writeOut: (s) => ctx.io.out(s), writeErr: (s) => ctx.io.err(s) })
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .helpCommand('help [command]', 'help for a command')
    .addHelpText('afterAll', EXIT_CODES_HELP);
  for (const register of commands) register(program, ctx);
  nameErrors(program);
  return program;
}

/** Commander's own errors ("error: unknown option …") start with the command's path, as the actions' errors do. */
function nameErrors(command: Command): void {
  command.configureOutput({
    outputError: (text, write) => write(`${commandPath(command)}: ${text.replace(/^error: /, '')}`),
  });
  for (const sub of command.commands) nameErrors(sub);
}

/** "kube-lb tenant add" for a command of the tree. */
export function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/**
 * Runs argv through the tree; undefined when an action ran to its end (its code went to ctx.finish), else the exit
 * code of what stopped it. Commander's own errors (unknown flag, bad choice, missing argument) are usage errors,
 * and so is a ConfigError or UsageError from an action; any other error is the command failing.
 */
export async function parseProgram(program: Command, io: CliIO, argv: readonly string[]): Promise<number | undefined> {
  let running: Command = program;
  program.hook('preAction', (_root, action) => {
    running = action;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return undefined;
  } catch (err) {
    // --help and --version end parsing with exit code 0; help shown because a subcommand was missing, with 1.
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (err instanceof ConfigError || err instanceof UsageError) {
      io.err(`${commandPath(running)}: ${err.message}\n(add --help for usage)\n`);
      return EXIT.usage;
    }
    const code = err instanceof KubeLbError ? `${err.code}: ` : '';
    // The API's own words for an API error; loaded only on this path, as the client is slow to import.
    const { apiMessage } = await import('../kube/client.ts');
    io.err(`${commandPath(running)}: ${code}${apiMessage(err)}\n`);
    return EXIT.failed;
  }
}
