// A leader-elected program's leadership, the same in the allocator and the agent: with --leader-elect it
// campaigns for its Lease (the flags of leaderElectionOptions in src/shared/program.ts) and leads while it holds
// it; without, it leads at once and for good. The program releases the Lease on shutdown, after its own work.
import { loadApiKubeConfig, type ApiClientOptions } from './api-client.ts';
import type { KubeConfigSource } from './client.ts';
import { LeaderElector } from './leader-election.ts';
import type { LeaderElectionConfig, Program } from '../shared/program.ts';

export interface LeadershipOptions {
  /** The cluster of the Lease. */
  readonly kubeconfig: KubeConfigSource;
  /** The program's API client options (user agent, request counting); Lease requests get a shorter deadline. */
  readonly client: ApiClientOptions;
  /** The namespace of the Lease. */
  readonly namespace: string;
  /** Runs while this replica leads; `signal` aborts when it stops leading. */
  lead(signal: AbortSignal): void | Promise<void>;
  /** Called whenever it stops leading, before a replica that lost its Lease exits. */
  onStoppedLeading?(): void;
}

/**
 * The deadline of one Lease request: a third of the renew deadline (at most --request-timeout, at least 500 ms),
 * so one hung request leaves time for retries before the leader has to step down (and exit).
 */
export function leaseRequestTimeoutMs(
  config: Pick<LeaderElectionConfig, 'request-timeout' | 'renew-deadline'>,
): number {
  return Math.max(500, Math.min(config['request-timeout'], Math.floor(config['renew-deadline'] / 3)));
}

/** Starts leading: at once, or when elected. */
export function startLeadership(program: Program<LeaderElectionConfig>, opts: LeadershipOptions): void {
  const { config, logger } = program;
  if (!config['leader-elect']) {
    void opts.lead(new AbortController().signal);
    return;
  }
  const elector = new LeaderElector({
    kubeConfig: loadApiKubeConfig(opts.kubeconfig, { ...opts.client, timeoutMs: leaseRequestTimeoutMs(config) }),
    namespace: opts.namespace,
    name: config['leader-election-id'],
    identity: program.identity,
    leaseDurationMs: config['lease-duration'],
    renewDeadlineMs: config['renew-deadline'],
    retryPeriodMs: config['retry-period'],
    logger,
    onStartedLeading: (signal) => opts.lead(signal),
    onStoppedLeading: () => {
      opts.onStoppedLeading?.();
      if (program.stopping) return;
      // A replica that lost the Lease may hold decisions it could not write, or be behind on everything: it
      // starts over clean, as client-go programs do, and whoever leads next rebuilds from the API.
      logger.error('lost the leader Lease; exiting so a fresh process campaigns again');
      process.exit(1);
    },
  });
  program.holdLease(elector);
  elector.start();
}
