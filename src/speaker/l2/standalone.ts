// L2 announcement alone, as its own process: the speaker's L2 part (wiring.ts) with its own API client, claim
// view and status writer, and no dataplane. For the L2 network-namespace tests (lab/l2-speakers.ts) and
// the failover benchmark (scripts/bench/failover.ts); production runs the same part inside src/speaker/main.ts.
//   node src/speaker/l2/standalone.ts --node-name lb-1 --kubeconfig K [--vips 192.0.2.10,... --interfaces eth0]
// SIGTERM and SIGINT hand the VIPs over to peers before exiting.
import type { OptionSpec } from '../../shared/config.ts';
import { bindAddressOption } from '../../shared/host-port.ts';
import { PROGRAM_OPTIONS, startProgram } from '../../shared/program.ts';
import { L2_OPTIONS } from './config.ts';
import { buildL2Speaker } from './wiring.ts';

const OPTIONS = {
  ...L2_OPTIONS,
  kubeconfig: { kind: 'string', env: 'KUBECONFIG', help: 'kubeconfig file (default: in-cluster)' },
  'metrics-bind-address': bindAddressOption('0', 'HOST:PORT of /metrics ("0", the default: none)'),
  ...PROGRAM_OPTIONS,
} satisfies Record<string, OptionSpec>;

const program = startProgram({
  name: 'speaker-l2',
  command: 'node src/speaker/l2/standalone.ts',
  options: OPTIONS,
  logFields: (config) => ({ node: config['node-name'] }),
});
const { config, logger } = program;
const bind = config['metrics-bind-address'];
// The L2 metrics only where something scrapes them.
const speaker = await buildL2Speaker(config, logger, bind === '0' ? {} : { registry: program.registry });
await program.serveStatus(bind, {});
program.stopOnSignals(() => speaker.handover());
await speaker.start();
logger.info({ peer: config['peer-port'] }, 'L2 speaker started');
