// The application in the lab's backend pods (lab/topology.ts): one pod per consumer node, a real
// process in a network namespace of its own (the pod's), reached only through the node's real kube-proxy, which
// learns the pod from the EndpointSlices kube-controller-manager publishes for it. The app listens on the
// target port of every Service port that selects it (the topology writes them to a spec file, as a Deployment's
// container ports would be configured; the file system is shared across namespaces; each Service port gets a
// target port of its own) and answers every request with one line naming its node, the Service and port, and the
// source address it saw:
//   TCP (HTTP):   "node=c1-a service=default/web port=80/TCP from=10.200.0.12"
//   UDP (any datagram): the same line
// `from` is what kube-proxy let through: with externalTrafficPolicy Cluster the node masquerades (the consumer
// node's address), with Local the source is kept (the LB node that forwarded the flow).
// Usage: node backend-pod.ts NODE_NAME SPEC_FILE
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { existsSync, readFileSync, watch } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { basename, dirname } from 'node:path';

export interface BackendPort {
  /** The Service port. */
  readonly port: number;
  readonly protocol: 'TCP' | 'UDP' | 'SCTP';
  /** Where the pod listens. */
  readonly targetPort: number;
}

export interface BackendService {
  /** "namespace/name". */
  readonly service: string;
  readonly ports: readonly BackendPort[];
}

export interface BackendSpec {
  readonly services: readonly BackendService[];
}

export function answerLine(node: string, service: string, port: BackendPort, from: string): string {
  return `node=${node} service=${service} port=${port.port}/${port.protocol} from=${from}`;
}

/** Parses an answer line back (tests). */
export function parseAnswer(line: string): { node: string; service: string; port: string; from: string } | undefined {
  const m = /^node=(\S+) service=(\S+) port=(\S+) from=(\S+)$/.exec(line.trim());
  return m ? { node: m[1]!, service: m[2]!, port: m[3]!, from: m[4]! } : undefined;
}

type Listener = { kind: 'tcp'; server: Server } | { kind: 'udp'; socket: UdpSocket };

function stripMapped(addr: string | undefined): string {
  return (addr ?? '?').replace(/^::ffff:/, '');
}

function main(): void {
  const [node, specFile] = process.argv.slice(2);
  if (!node || !specFile) {
    console.error('usage: backend-pod.ts NODE_NAME SPEC_FILE');
    process.exit(2);
  }
  const listeners = new Map<string, Listener>();

  const apply = (spec: BackendSpec): void => {
    // One listener per target port and protocol; a key names what it answers for, so a change reopens it.
    const wanted = new Map<string, () => Listener>();
    for (const svc of spec.services) {
      for (const p of svc.ports) {
        if (p.protocol === 'TCP') {
          wanted.set(`tcp/${p.targetPort}/${svc.service}/${p.port}`, () => {
            // A client that asks to keep the connection open (a held flow) keeps it, idle for as long as it likes.
            const server = createServer({ keepAliveTimeout: 0 }, (req, res) => {
              const body = `${answerLine(node, svc.service, p, stripMapped(req.socket.remoteAddress))}\n`;
              res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
              res.end(body);
            });
            server.on('error', (err) => console.error(`tcp/${p.targetPort}: ${err.message}`));
            server.listen(p.targetPort, '0.0.0.0');
            return { kind: 'tcp', server };
          });
        } else if (p.protocol === 'UDP') {
          wanted.set(`udp/${p.targetPort}/${svc.service}/${p.port}`, () => {
            const socket = createSocket('udp4');
            socket.on('message', (_msg, rinfo) =>
              socket.send(answerLine(node, svc.service, p, rinfo.address), rinfo.port, rinfo.address),
            );
            socket.on('error', (err) => console.error(`udp/${p.targetPort}: ${err.message}`));
            socket.bind(p.targetPort, '0.0.0.0');
            return { kind: 'udp', socket };
          });
        }
      }
    }
    for (const [key, l] of listeners) {
      if (wanted.has(key)) continue;
      if (l.kind === 'tcp') {
        l.server.close();
        l.server.closeAllConnections();
      } else l.socket.close();
      listeners.delete(key);
    }
    for (const [key, make] of wanted) if (!listeners.has(key)) listeners.set(key, make());
  };

  let last = '';
  const reload = (): void => {
    let text: string;
    try {
      text = existsSync(specFile) ? readFileSync(specFile, 'utf8') : '{"services":[]}';
    } catch {
      return;
    }
    if (text === last) return;
    try {
      apply(JSON.parse(text) as BackendSpec);
      last = text;
      console.log(`serving ${[...listeners.keys()].join(' ') || 'nothing'}`);
    } catch (err) {
      console.error(`bad spec: ${(err as Error).message}`);
    }
  };
  // The writer renames a complete file into place; watch the directory for it, and poll as a safety net.
  watch(dirname(specFile), (_event, name) => {
    if (name === basename(specFile)) reload();
  });
  setInterval(reload, 1000);
  reload();
  process.on('SIGTERM', () => process.exit(0));
  console.log(`backend pod on ${node} ready`);
}

if (import.meta.url === `file://${process.argv[1]}`) main();
