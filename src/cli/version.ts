// `kube-lb version [-o FORMAT]`: the CLI's version and the Node.js running it (`--version` prints the first alone).
import type { Command } from 'commander';
import { packageVersion } from '../shared/version.ts';
import { EXIT, outputOption } from './command-args.ts';
import { render, type OutputFormat, type View } from './output.ts';
import type { CliContext } from './program.ts';

export interface VersionInfo {
  version: string;
  node: string;
}

export function registerVersion(parent: Command, ctx: CliContext): void {
  parent
    .command('version')
    .description('the kube-lb version and the Node.js that runs it')
    .addOption(outputOption())
    .action((flags: { output: OutputFormat }) => {
      ctx.io.out(render(flags.output, versionView({ version: packageVersion(), node: process.versions.node })));
      ctx.finish(EXIT.ok);
    });
}

export function versionView(info: VersionInfo): View {
  return {
    data: info,
    names: [`version/${info.version}`],
    human: () => [{ headers: ['VERSION', 'NODE'], rows: [[info.version, info.node]] }],
  };
}
