#!/usr/bin/env node
// `kube-lb COMMAND ...`: a table of subcommands, each in its own module taking (argv, io) and returning the
// exit code. Add a command by adding a row.
import { doctorCommand } from './doctor.ts';
import { mapsCommand } from './maps-list.ts';
import { statusCommand } from './status.ts';
import { speakerCommand } from './speaker-state.ts';
import { tenantCommand } from './tenant.ts';
import { EXIT, processIO, type CliIO } from './command-args.ts';

type Command = (argv: readonly string[], io: CliIO) => Promise<number>;

const COMMANDS: Readonly<Record<string, { run: Command; help: string }>> = {
  status: { run: statusCommand, help: 'claims across tenants: VIP, owner node, programmed count, health; tenants; pools' },
  doctor: { run: doctorCommand, help: 'on an LB node: bpffs, Cilium maps and version profile, capabilities, sysctls' },
  maps: { run: mapsCommand, help: "maps list: Cilium's lb4 frontends on this node, kube-lb's marked" },
  tenant: { run: tenantCommand, help: 'tenant add|remove: onboard a consumer cluster' },
  speaker: { run: speakerCommand, help: "speaker state: one speaker's claims, backend selection and health checks" },
};

export async function main(argv: readonly string[], io: CliIO = processIO): Promise<number> {
  const [name, ...rest] = argv;
  const command = name === undefined ? undefined : COMMANDS[name];
  if (!command) {
    const list = Object.entries(COMMANDS)
      .map(([n, c]) => `  ${n.padEnd(10)} ${c.help}`)
      .join('\n');
    io.err(`usage: kube-lb COMMAND ...\n${list}\n`);
    return name === undefined || name === 'help' || name === '--help' ? EXIT.ok : EXIT.usage;
  }
  return command.run(rest, io);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = await main(process.argv.slice(2));
}
