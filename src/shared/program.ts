// The skeleton every kube-lb program's main is built on, so that each main keeps only its own wiring: its version,
// its flags (usage and exit 2 on a bad one, --help), one root logger, one metrics registry, its status servers,
// and on SIGTERM or SIGINT one shutdown order. Leader election, which needs the Kubernetes client, is in
// src/kube/leadership.ts and hands its Lease to the program here, to be released in that order.
//   const program = startProgram({ name: 'agent', options: AGENT_OPTIONS });
//   await program.serveStatus(program.config['metrics-bind-address'], { readiness: [...] });
//   program.stopOnSignals(() => controller.stop());
import { hostname } from 'node:os';
import { describeOptions, parseConfig, type ConfigOf, type OptionSpec } from './config.ts';
import { ConfigError } from './errors.ts';
import { listenAddress } from './host-port.ts';
import { startStatusServer, type StatusServer, type StatusServerOptions } from './http-status.ts';
import { createLogger, LOG_LEVELS, type Logger, type LogLevel } from './logger.ts';
import { createRegistry, type Registry } from './metrics.ts';
import { packageVersion } from './version.ts';

/** The flags every program has, last in its table. */
export const PROGRAM_OPTIONS = {
  'log-level': { kind: 'string', default: 'info', oneOf: LOG_LEVELS, help: 'Log level' },
  help: { kind: 'bool', default: false, help: 'Print this help' },
} satisfies Record<string, OptionSpec>;

/**
 * The flags of a program that runs as one of several replicas with only the holder of a Lease `acting`; the
 * defaults are client-go's (15 s, 10 s, 2 s). The Lease's namespace is the program's own choice.
 */
export function leaderElectionOptions(lease: string, acting: string) {
  return {
    'leader-elect': {
      kind: 'bool',
      default: true,
      help: `Run as one of several replicas, only the Lease holder ${acting}`,
    },
    'leader-election-id': { kind: 'string', default: lease, help: 'Name of the leader Lease' },
    'lease-duration': { kind: 'duration', default: 15_000, min: 1000, help: 'Leader Lease duration' },
    'renew-deadline': {
      kind: 'duration',
      default: 10_000,
      min: 500,
      help: 'A leader that cannot renew within this steps down',
    },
    'retry-period': { kind: 'duration', default: 2_000, min: 100, help: 'Leader election retry period' },
    identity: { kind: 'string', env: 'POD_NAME', help: 'Leader election identity (default: hostname and pid)' },
  } satisfies Record<string, OptionSpec>;
}

/** What the leader election reads of a program's flags (leaderElectionOptions and its --request-timeout). */
export type LeaderElectionConfig = ConfigOf<ReturnType<typeof leaderElectionOptions>> & { 'request-timeout': number };

/** The status endpoints a program serves; the registry and the logger are the program's. */
export type StatusEndpoints = Omit<StatusServerOptions, 'host' | 'port' | 'socketPath' | 'registry' | 'logger'>;

/** Something held while the program runs and given up on shutdown after the program's own work has stopped. */
export interface HeldLease {
  stop(): Promise<void>;
}

type ProgramSpecs = Record<string, OptionSpec> & { 'log-level': OptionSpec };

export interface ProgramSpec<Specs extends ProgramSpecs> {
  /** allocator, agent, speaker, ...: the `program` of every log line and metric, and the API user agent. */
  readonly name: string;
  readonly options: Specs;
  /** How --help and usage errors name the command (default: kube-lb NAME). */
  readonly command?: string;
  /** Fields on every log line besides program and pid (the speaker's node). */
  readonly logFields?: (config: ConfigOf<Specs>) => Record<string, unknown>;
}

/** Parses the flags (or exits), then builds the logger and the registry. Nothing listens or runs yet. */
export function startProgram<Specs extends ProgramSpecs>(spec: ProgramSpec<Specs>): Program<ConfigOf<Specs>> {
  const version = packageVersion();
  const config = parseFlagsOrExit(spec.command ?? `kube-lb ${spec.name}`, spec.options, version);
  const root = createLogger({ program: spec.name, level: config['log-level'] as LogLevel });
  const logger = spec.logFields ? root.child(spec.logFields(config)) : root;
  return new Program(spec.name, version, config, logger, createRegistry(spec.name));
}

export class Program<Config> {
  readonly name: string;
  readonly version: string;
  readonly config: Config;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly #servers: StatusServer[] = [];
  #lease: HeldLease | undefined;
  #shuttingDown = false;

  constructor(name: string, version: string, config: Config, logger: Logger, registry: Registry) {
    this.name = name;
    this.version = version;
    this.config = config;
    this.logger = logger;
    this.registry = registry;
  }

  /** The User-Agent of the program's API requests. */
  get userAgent(): string {
    return `kube-lb-${this.name}/${this.version}`;
  }

  /** This replica's name among its peers: --identity where the program has it, else hostname and pid. */
  get identity(): string {
    return (this.config as { identity?: string | undefined }).identity ?? `${hostname()}-${process.pid}`;
  }

  /** True once a signal started the shutdown. */
  get stopping(): boolean {
    return this.#shuttingDown;
  }

  /** The "kube-lb NAME starting" line, with the version and what the program says of itself. */
  starting(fields: Record<string, unknown>): void {
    this.logger.info({ version: this.version, ...fields }, `kube-lb ${this.name} starting`);
  }

  /** Serves /metrics, /healthz, /readyz and the JSON endpoints named on HOST:PORT; "0" serves nothing. */
  async serveStatus(bind: string, endpoints: StatusEndpoints): Promise<StatusServer | undefined> {
    if (bind === '0') return undefined;
    const server = await startStatusServer({ ...endpoints, ...listenAddress(bind), ...this.#statusParts() });
    this.#servers.push(server);
    this.logger.info({ port: server.port }, 'status server listening');
    return server;
  }

  /** The same on a Unix socket, reachable from any network namespace on the host. */
  async serveStatusSocket(socketPath: string, endpoints: StatusEndpoints): Promise<StatusServer> {
    const server = await startStatusServer({ ...endpoints, host: '', port: 0, socketPath, ...this.#statusParts() });
    this.#servers.push(server);
    this.logger.info({ socket: socketPath }, 'status server listening');
    return server;
  }

  #statusParts(): Pick<StatusServerOptions, 'registry' | 'logger'> {
    return { registry: this.registry, logger: this.logger };
  }

  /** The leader Lease (src/kube/leadership.ts), released on shutdown once the program's work has stopped. */
  holdLease(lease: HeldLease): void {
    this.#lease = lease;
  }

  /**
   * On SIGTERM or SIGINT, once: the program's own `steps` in the order given (stop its work), then the Lease is
   * released, then the status servers close (probes and scrapes answer to the end), then exit 0. The Lease goes
   * only after the work stopped, so the next leader never writes beside this replica. A step that fails is logged
   * and the rest still run (the Lease must still be released); the exit code is then 1.
   */
  stopOnSignals(...steps: Array<() => unknown>): void {
    const stop = (signal: string): void => {
      if (this.#shuttingDown) return;
      this.#shuttingDown = true;
      void this.#stop(signal, steps);
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  }

  async #stop(signal: string, steps: ReadonlyArray<() => unknown>): Promise<void> {
    this.logger.info({ signal }, 'shutting down');
    let failed = false;
    const run = async (step: () => unknown): Promise<void> => {
      try {
        await step();
      } catch (err) {
        failed = true;
        this.logger.error({ err }, 'shutdown step failed');
      }
    };
    for (const step of steps) await run(step);
    const lease = this.#lease;
    if (lease) await run(() => lease.stop());
    await run(() => Promise.all(this.#servers.map((s) => s.close())));
    this.logger.info('stopped');
    process.exit(failed ? 1 : 0);
  }
}

/**
 * Parses argv and the environment; on a bad flag prints the error and usage and exits 2; with --help (when
 * the program declares it) prints usage and exits 0.
 */
function parseFlagsOrExit<Specs extends Record<string, OptionSpec>>(
  command: string,
  specs: Specs,
  version: string,
): ConfigOf<Specs> {
  // --help before parsing, so a program with required flags can still show its usage.
  if ('help' in specs && process.argv.slice(2).includes('--help')) {
    console.log(`${command} ${version}\n${describeOptions(specs)}`);
    process.exit(0);
  }
  let config: ConfigOf<Specs>;
  try {
    config = parseConfig(specs, process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`${err.message}\n\nusage: ${command} [flags]\n${describeOptions(specs)}`);
      process.exit(2);
    }
    throw err;
  }
  if ((config as Record<string, unknown>).help === true) {
    console.log(`${command} ${version}\n${describeOptions(specs)}`);
    process.exit(0);
  }
  return config;
}
