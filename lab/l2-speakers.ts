// Runs the standalone L2 speaker (src/speaker/l2/standalone.ts) inside the LB-node namespaces of an
// L2Topology, against a real API server reached through an ApiRelay. For the L2 tests and the benchmark.
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Ledger } from './ledger.ts';
import { spawnTracked, type TrackedProcess } from './process.ts';
import type { ApiRelay } from './api-relay.ts';
import type { L2Topology } from './l2-topology.ts';

const STANDALONE = fileURLToPath(new URL('../src/speaker/l2/standalone.ts', import.meta.url));
export const RELAY_PORT = 6443;

export class L2Speakers {
  readonly #ledger: Ledger;
  readonly #topo: L2Topology;
  readonly #kubeconfig: string;
  readonly #relays = new Map<string, TrackedProcess>();
  readonly #relay: ApiRelay;
  readonly procs = new Map<string, TrackedProcess>();
  #runs = 0;

  constructor(ledger: Ledger, topo: L2Topology, relay: ApiRelay) {
    this.#ledger = ledger;
    this.#topo = topo;
    this.#relay = relay;
    this.#kubeconfig = relay.kubeconfigFor(RELAY_PORT);
  }

  /** Starts the namespace side of the API relay in every LB node (idempotent). */
  async connectApi(): Promise<void> {
    // All at once: nodes that get the API back seconds apart see each other's Leases expire meanwhile.
    await Promise.all(
      this.#topo.nodes
        .filter((n) => !this.#relays.has(n.name))
        .map(async (n) => this.#relays.set(n.name, await this.#relay.startInNetns(n.ns, RELAY_PORT))),
    );
  }

  /** Cuts one node (or all) off the API server, as a partition would. */
  async disconnectApi(name?: string): Promise<void> {
    for (const [node, proc] of this.#relays) {
      if (name !== undefined && node !== name) continue;
      await proc.kill();
      this.#relays.delete(node);
    }
  }

  start(name: string, args: readonly string[]): TrackedProcess {
    const node = this.#topo.nodes.find((n) => n.name === name)!;
    const logFile = join(this.#topo.dir, `speaker-${name}-${++this.#runs}.log`);
    const proc = spawnTracked(
      this.#ledger,
      `speaker-${name}`,
      'ip',
      [
        'netns',
        'exec',
        node.ns,
        process.execPath,
        ...(process.env.KUBE_LB_SPEAKER_NODE_OPTIONS ?? '').split(' ').filter(Boolean),
        STANDALONE,
        '--node-name',
        name,
        '--kubeconfig',
        this.#kubeconfig,
        '--peer-address',
        node.ip,
        '--peer-key-file',
        this.#peerKeyFile(),
        ...args,
      ],
      { logFile },
    );
    this.procs.set(name, proc);
    return proc;
  }

  /** The speakers' shared key (signed heartbeats, byes and acks, as deployed): one per topology. */
  #peerKeyFile(): string {
    const file = join(this.#topo.dir, 'peer-key');
    if (!existsSync(file)) writeFileSync(file, randomBytes(32).toString('hex'), { mode: 0o600 });
    return file;
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.procs.values()].map((p) => p.stop(8000)));
    this.procs.clear();
    await this.disconnectApi();
  }
}
