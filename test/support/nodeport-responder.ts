// A consumer node's NodePorts, as kube-proxy plus a pod would serve them, for the end-to-end topology and the
// demo. Runs inside a consumer-node namespace and serves what a spec file lists (written by the kube-proxy
// stand-in in test/support/topology.ts from the consumer cluster's Services; the file system is shared across
// namespaces). Every answer says which node and which Service answered, and from which address the request
// came (the LB node's SNAT address), so a test can tell both the backend and the LB node that carried it:
//   TCP (HTTP on the NodePort):  "node=c1-a service=default/web port=80/TCP from=10.200.0.12"
//   UDP (any datagram):          the same line
//   healthCheckNodePort:         GET /healthz → 200 {"service": ..., "localEndpoints": 1}, as kube-proxy answers
//                                for a node with a ready local endpoint (eTP Local)
// Usage: node nodeport-responder.ts NODE_NAME SPEC_FILE
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { existsSync, readFileSync, watch } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { basename, dirname } from 'node:path';

export interface ResponderPort {
  readonly port: number;
  readonly protocol: 'TCP' | 'UDP' | 'SCTP';
  readonly nodePort: number;
}

export interface ResponderService {
  /** "namespace/name". */
  readonly service: string;
  readonly ports: readonly ResponderPort[];
  readonly healthCheckNodePort?: number | undefined;
}

export interface ResponderSpec {
  readonly services: readonly ResponderService[];
}

export function answerLine(node: string, service: string, port: ResponderPort, from: string): string {
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
    console.error('usage: nodeport-responder.ts NODE_NAME SPEC_FILE');
    process.exit(2);
  }
  const listeners = new Map<string, Listener>();

  const open = (key: string, make: () => Listener): void => {
    const l = make();
    listeners.set(key, l);
  };

  const apply = (spec: ResponderSpec): void => {
    const wanted = new Map<string, () => Listener>();
    for (const svc of spec.services) {
      for (const p of svc.ports) {
        if (p.protocol === 'TCP') {
          wanted.set(`tcp/${p.nodePort}/${svc.service}/${p.port}`, () => {
            const server = createServer((req, res) => {
              res.writeHead(200, { 'content-type': 'text/plain', connection: 'close' });
              res.end(`${answerLine(node, svc.service, p, stripMapped(req.socket.remoteAddress))}\n`);
            });
            server.on('error', (err) => console.error(`tcp/${p.nodePort}: ${err.message}`));
            server.listen(p.nodePort, '0.0.0.0');
            return { kind: 'tcp', server };
          });
        } else if (p.protocol === 'UDP') {
          wanted.set(`udp/${p.nodePort}/${svc.service}/${p.port}`, () => {
            const socket = createSocket('udp4');
            socket.on('message', (_msg, rinfo) => socket.send(answerLine(node, svc.service, p, rinfo.address), rinfo.port, rinfo.address));
            socket.on('error', (err) => console.error(`udp/${p.nodePort}: ${err.message}`));
            socket.bind(p.nodePort, '0.0.0.0');
            return { kind: 'udp', socket };
          });
        }
      }
      const hc = svc.healthCheckNodePort;
      if (hc) {
        wanted.set(`tcp/${hc}/${svc.service}/healthz`, () => {
          const server = createServer((req, res) => {
            const ok = (req.url ?? '').split('?')[0] === '/healthz';
            res.writeHead(ok ? 200 : 404, { 'content-type': 'application/json', connection: 'close' });
            res.end(ok ? `${JSON.stringify({ service: { namespace: svc.service.split('/')[0], name: svc.service.split('/')[1] }, localEndpoints: 1 })}\n` : '');
          });
          server.on('error', (err) => console.error(`healthz/${hc}: ${err.message}`));
          server.listen(hc, '0.0.0.0');
          return { kind: 'tcp', server };
        });
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
    for (const [key, make] of wanted) if (!listeners.has(key)) open(key, make);
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
      apply(JSON.parse(text) as ResponderSpec);
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
  console.log(`responder ${node} ready`);
}

if (import.meta.url === `file://${process.argv[1]}`) main();
