// `kube-lb doctor`: run on an LB node (or in the speaker's container, or `ip netns exec NODE` in the test
// topology). Gathers what the speaker depends on and prints what would stop it: bpffs, Cilium's pinned lb4 maps
// and their shapes, the Cilium version profile the entries match, whether Cilium's configuration
// (--cilium-config-dir) is one kube-lb can serve, capabilities, and the ARP sysctls of the announcing interface.
// Exit 0 when ready, 1 when not, 2 on a usage error. Read-only: it opens maps read-only and writes nothing (the
// change-events program is loaded and detached again, to tell whether the speaker can use it).
import type { Command } from 'commander';
import { diagnose, formatDiagnosis, type Diagnosis } from '../core/doctor/diagnose.ts';
import { DEFAULT_MAP_DIR } from '../core/lb4/maps.ts';
import { DEFAULT_CILIUM_CONFIG_DIR } from '../speaker/cilium-config-dir.ts';
import { EXIT, outputOption, processIO, type CliIO } from './command-args.ts';
import { render, type OutputFormat, type View } from './output.ts';
import type { CliContext } from './program.ts';

interface DoctorFlags {
  mapDir: string;
  ciliumVersion: string;
  ciliumConfigDir: string;
  procSysDir?: string;
  interface?: string;
  output: OutputFormat;
}

export function registerDoctor(parent: Command, ctx: CliContext): void {
  parent
    .command('doctor')
    .description(
      'on an LB node (as root): bpffs, Cilium maps and version profile, Cilium configuration, capabilities, change events, ARP sysctls',
    )
    .option('--map-dir <dir>', "directory of Cilium's pinned lb4 maps", DEFAULT_MAP_DIR)
    .option('--cilium-version <version>', 'the speaker\'s --cilium-version ("auto": detect from the maps)', 'auto')
    .option(
      '--cilium-config-dir <dir>',
      "the speaker's --cilium-config-dir: Cilium's configuration directory",
      DEFAULT_CILIUM_CONFIG_DIR,
    )
    .option(
      '--proc-sys-dir <dir>',
      "where the node's net sysctls are (default $KUBE_LB_PROC_SYS_DIR, else /proc/sys; the speaker container sets /host/proc/sys)",
    )
    .option('--interface <name>', "interface that answers ARP (default: the IPv4 default route's)")
    .addOption(outputOption())
    .action(async (flags: DoctorFlags) => ctx.finish(await doctor(flags, ctx.io)));
}

async function doctor(flags: DoctorFlags, io: CliIO): Promise<number> {
  // Imported here, not above: it loads the native addon, which help and completion do not need.
  const { gatherFacts } = await import('./doctor-facts.ts');
  const diagnosis = diagnose(
    gatherFacts({
      mapDir: flags.mapDir,
      ciliumVersion: flags.ciliumVersion,
      ciliumConfigDir: flags.ciliumConfigDir,
      procSys: flags.procSysDir ?? io.env.KUBE_LB_PROC_SYS_DIR ?? '/proc/sys',
      iface: flags.interface,
    }),
  );
  io.out(render(flags.output, doctorView(diagnosis)));
  return diagnosis.ready ? EXIT.ok : EXIT.failed;
}

/** table: the findings with their hints and the verdict; name: the checks that fail (none when ready). */
export function doctorView(diagnosis: Diagnosis): View {
  return {
    data: { ready: diagnosis.ready, profile: diagnosis.profile ?? null, findings: diagnosis.findings },
    names: diagnosis.findings.filter((f) => f.severity === 'fail').map((f) => `check/${f.check.replaceAll(' ', '-')}`),
    human: () => [{ text: formatDiagnosis(diagnosis) }],
  };
}

/** `kube-lb doctor ARGS…` (kept for callers that run the one command; the same as main(['doctor', …])). */
export async function doctorCommand(argv: readonly string[], io: CliIO = processIO): Promise<number> {
  const { main } = await import('./main.ts');
  return main(['doctor', ...argv], io);
}
