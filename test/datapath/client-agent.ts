// The client host's traffic generator, run inside the client namespace and driven by the test over a unix
// socket (reachable from the root namespace through the filesystem). Every request uses a fresh connection
// or socket, so every request is a new flow for the datapath.
//   POST /request {proto, host, port, count, timeoutMs}         → Tally of `count` sequential requests
//   POST /loop/start {proto, host, port, intervalMs, timeoutMs}  → starts one background loop
//   GET  /loop                                                   → the loop's Tally so far
//   POST /loop/stop                                              → stops it, final Tally
// Usage: client-agent.ts SOCKET_PATH
import { createServer, request as httpRequest, type IncomingMessage } from 'node:http';
import { createSocket } from 'node:dgram';

export interface Target {
  proto: 'tcp' | 'udp';
  host: string;
  port: number;
  timeoutMs: number;
}

export interface Tally {
  ok: number;
  fail: number;
  /** Answers by backend name. */
  answers: Record<string, number>;
  /** Last error message, if any. */
  lastError?: string;
  /** Milliseconds since the epoch of the last success / failure. */
  lastOkAt?: number;
  lastFailAt?: number;
}

function httpOnce(t: Target): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: t.host, port: t.port, path: '/', agent: false, timeout: t.timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(body.trim()));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

function udpOnce(t: Target): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = createSocket('udp4');
    const timer = setTimeout(() => {
      sock.close();
      reject(new Error('timeout'));
    }, t.timeoutMs);
    sock.on('message', (msg) => {
      clearTimeout(timer);
      sock.close();
      resolve(msg.toString('utf8').trim());
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      sock.close();
      reject(err);
    });
    sock.send('ping', t.port, t.host);
  });
}

async function once(t: Target, tally: Tally): Promise<void> {
  try {
    const answer = await (t.proto === 'udp' ? udpOnce(t) : httpOnce(t));
    tally.ok++;
    tally.answers[answer] = (tally.answers[answer] ?? 0) + 1;
    tally.lastOkAt = Date.now();
  } catch (err) {
    tally.fail++;
    tally.lastError = (err as Error).message;
    tally.lastFailAt = Date.now();
  }
}

const newTally = (): Tally => ({ ok: 0, fail: 0, answers: {} });

let loop: { tally: Tally; running: boolean; done: Promise<void> } | undefined;

async function body(req: IncomingMessage): Promise<Record<string, unknown>> {
  let text = '';
  for await (const chunk of req) text += String(chunk);
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

function target(b: Record<string, unknown>): Target {
  return {
    proto: b['proto'] === 'udp' ? 'udp' : 'tcp',
    host: String(b['host']),
    port: Number(b['port']),
    timeoutMs: Number(b['timeoutMs'] ?? 1000),
  };
}

const server = createServer(async (req, res) => {
  const b = req.method === 'POST' ? await body(req) : {};
  let out: unknown;
  if (req.url === '/request') {
    const tally = newTally();
    for (let i = 0; i < Number(b['count'] ?? 1); i++) await once(target(b), tally);
    out = tally;
  } else if (req.url === '/loop/start') {
    const t = target(b);
    const interval = Number(b['intervalMs'] ?? 50);
    const state = { tally: newTally(), running: true, done: Promise.resolve() };
    state.done = (async () => {
      while (state.running) {
        await once(t, state.tally);
        await new Promise((r) => setTimeout(r, interval));
      }
    })();
    loop = state;
    out = state.tally;
  } else if (req.url === '/loop') {
    out = loop?.tally ?? newTally();
  } else if (req.url === '/loop/stop') {
    if (loop) {
      loop.running = false;
      await loop.done;
    }
    out = loop?.tally ?? newTally();
    loop = undefined;
  } else {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(out));
});
server.listen(process.argv[2]);
process.on('SIGTERM', () => process.exit(0));
