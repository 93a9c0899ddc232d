#!/usr/bin/env node
// `kube-lb COMMAND ...` (and `kubectl kube-lb COMMAND ...`): the command tree is commander's (src/cli/program.ts);
// each command lives in its own module and adds itself with a register function. Add a command by adding it to
// COMMANDS. Started by bin/kube-lb, which finds a Node that runs TypeScript.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { COMPLETE_COMMAND, printCompletion, registerCompletion } from './completion.ts';
import { EXIT, processIO, type CliIO } from './command-args.ts';
import { registerDoctor } from './doctor.ts';
import { registerMaps } from './maps-list.ts';
import { buildProgram, parseProgram, type Register } from './program.ts';
import { registerSpeaker } from './speaker-state.ts';
import { registerStatus } from './status.ts';
import { registerTenant } from './tenant.ts';
import { registerVersion } from './version.ts';

export const COMMANDS: readonly Register[] = [
  registerStatus,
  registerDoctor,
  registerMaps,
  registerSpeaker,
  registerTenant,
  registerVersion,
  registerCompletion,
];

export async function main(argv: readonly string[], io: CliIO = processIO): Promise<number> {
  let code: number = EXIT.ok;
  const program = buildProgram({ io, finish: (c) => (code = c) }, COMMANDS);
  // Not a commander command: its words are a partial command line that must not be parsed (or rejected).
  if (argv[0] === COMPLETE_COMMAND) return printCompletion(program, argv.slice(1), io);
  // Bare `kube-lb` asks what there is: help on stdout and success, as kubectl does.
  if (argv.length === 0) {
    program.outputHelp();
    return EXIT.ok;
  }
  return (await parseProgram(program, io, argv)) ?? code;
}

// Run as a program (not imported by a test): the path may reach this file through links (npx, a plugin on PATH).
if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  // `kube-lb … | head` closes the pipe early: stop quietly, as other command-line tools do.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(EXIT.ok);
    throw err;
  });
  process.exitCode = await main(process.argv.slice(2));
}
