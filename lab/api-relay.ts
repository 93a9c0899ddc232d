// Lets processes inside a network namespace reach a kube-apiserver that listens on the root namespace's
// loopback, without giving the namespace any route to the host: a TCP listener inside the namespace hands each
// connection over a Unix socket (the filesystem is shared across namespaces) to a forwarder in the test process,
// which connects to the apiserver. TLS passes through untouched; the serving certificate is for 127.0.0.1, which
// is also the address the namespace side listens on.
//
//   in the test:      const relay = await startApiRelay(ledger, cluster, dir)
//                     relay.kubeconfigFor(port) → kubeconfig file pointing at https://127.0.0.1:PORT
//                     relay.startInNetns(ns, port) → the namespace-side listener (a tracked child process)
//   child process:    node lab/api-relay.ts LISTEN_PORT UNIX_PATH
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import type { Ledger } from './ledger.ts';
import { spawnTracked, type TrackedProcess } from './process.ts';

function pipeBoth(a: Socket, b: Socket): void {
  a.pipe(b);
  b.pipe(a);
  const end = () => {
    a.destroy();
    b.destroy();
  };
  a.on('error', end);
  b.on('error', end);
  a.on('close', end);
  b.on('close', end);
}

export interface ApiRelay {
  readonly socketPath: string;
  /** A kubeconfig file with the cluster's admin credentials and server https://127.0.0.1:PORT. */
  kubeconfigFor(port: number): string;
  /** Starts the namespace-side listener on 127.0.0.1:PORT inside `netns`. */
  startInNetns(netns: string, port: number): Promise<TrackedProcess>;
  close(): Promise<void>;
}

export async function startApiRelay(
  ledger: Ledger,
  cluster: { server: string; kubeConfig: k8s.KubeConfig },
  dir: string,
): Promise<ApiRelay> {
  const target = new URL(cluster.server);
  const socketPath = join(dir, 'api.sock');
  const server: Server = createServer((client) => {
    pipeBoth(client, createConnection({ host: target.hostname, port: Number(target.port) }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  const children: TrackedProcess[] = [];
  return {
    socketPath,
    kubeconfigFor(port) {
      const kc = new k8s.KubeConfig();
      kc.loadFromString(cluster.kubeConfig.exportConfig());
      const exported = JSON.parse(kc.exportConfig()) as { clusters: { cluster: { server: string } }[] };
      for (const c of exported.clusters) c.cluster.server = `https://127.0.0.1:${port}`;
      const path = join(dir, `kubeconfig-${port}.json`);
      writeFileSync(path, JSON.stringify(exported));
      return path;
    },
    async startInNetns(netns, port) {
      const self = fileURLToPath(import.meta.url);
      const proc = spawnTracked(
        ledger,
        `relay-${netns}`,
        'ip',
        ['netns', 'exec', netns, process.execPath, self, String(port), socketPath],
        {
          logFile: join(dir, `relay-${netns}.log`),
        },
      );
      children.push(proc);
      // Ready when the listener accepts; probing from here is impossible (other namespace), so wait for its line.
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`api relay in ${netns} did not start`)), 60_000);
        proc.child.stdout?.on('data', (d: Buffer) => {
          if (d.toString().includes('listening')) {
            clearTimeout(timer);
            resolve();
          }
        });
        void proc.exited.then(() => reject(new Error(`api relay in ${netns} exited`)));
      });
      return proc;
    },
    async close() {
      await Promise.all(children.map((c) => c.stop(1000)));
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

// Namespace side: accept on 127.0.0.1:PORT, forward each connection to the Unix socket.
if (import.meta.url === `file://${process.argv[1]}`) {
  const [port, path] = process.argv.slice(2);
  const listener = createServer((client) => pipeBoth(client, createConnection(path!)));
  listener.listen(Number(port), '127.0.0.1', () => console.log(`listening on 127.0.0.1:${port}`));
}
