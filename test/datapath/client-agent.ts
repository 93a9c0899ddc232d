// The client host's traffic generator, run inside the client namespace and driven by the test over a unix
// socket (reachable from the root namespace through the filesystem). Every request uses a fresh connection
// or socket, so every request is a new flow for the datapath; except the held flows, which are TCP connections
// kept open to ask again later on the same connection (an established flow across a restart).
//   POST /request {proto, host, port, count, timeoutMs}         → Tally of `count` sequential requests
//   POST /loop/start {proto, host, port, intervalMs, timeoutMs}  → starts one background loop
//   GET  /loop                                                   → the loop's Tally so far
//   POST /loop/stop                                              → stops it, final Tally
//   POST /flows/open {host, port, count, timeoutMs}              → opens `count` held flows: FlowAnswer[]
//   POST /flows/ask {timeoutMs}                                  → one more request on each: FlowAnswer[]
//   POST /flows/close                                            → closes them
// Usage: client-agent.ts SOCKET_PATH
import { createServer, request as httpRequest, type IncomingMessage } from 'node:http';
import { createSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';

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

/** What one held flow answered: the client port names the flow (the same connection, or it failed). */
export interface FlowAnswer {
  readonly localPort: number;
  readonly answer?: string;
  readonly error?: string;
}

/** A TCP connection kept open, asking with HTTP/1.1 keep-alive requests one at a time. */
class HeldFlow {
  readonly #socket: Socket;
  #buffer = '';
  #waiter: { resolve: (body: string) => void; reject: (err: Error) => void } | undefined;
  #failed: Error | undefined;
  localPort = 0;

  constructor(host: string, port: number) {
    this.#socket = connect({ host, port });
    this.#socket.setEncoding('utf8');
    this.#socket.on('connect', () => (this.localPort = this.#socket.localPort ?? 0));
    this.#socket.on('data', (chunk: string) => {
      this.#buffer += chunk;
      this.#deliver();
    });
    const fail = (err: Error): void => {
      this.#failed ??= err;
      this.#waiter?.reject(err);
      this.#waiter = undefined;
    };
    this.#socket.on('error', fail);
    this.#socket.on('close', () => fail(new Error('connection closed')));
  }

  /** One complete response (headers with content-length, then the body) hands its body to the waiter. */
  #deliver(): void {
    const end = this.#buffer.indexOf('\r\n\r\n');
    if (end < 0 || !this.#waiter) return;
    const length = Number(/content-length:\s*(\d+)/i.exec(this.#buffer.slice(0, end))?.[1] ?? 0);
    if (this.#buffer.length < end + 4 + length) return;
    const body = this.#buffer.slice(end + 4, end + 4 + length);
    this.#buffer = this.#buffer.slice(end + 4 + length);
    this.#waiter.resolve(body.trim());
    this.#waiter = undefined;
  }

  async ask(timeoutMs: number): Promise<FlowAnswer> {
    try {
      if (this.#failed) throw this.#failed;
      const body = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('timeout')), timeoutMs);
        this.#waiter = {
          resolve: (b) => {
            clearTimeout(timer);
            resolve(b);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        };
        this.#socket.write('GET / HTTP/1.1\r\nHost: vip\r\nConnection: keep-alive\r\n\r\n');
      });
      return { localPort: this.localPort, answer: body };
    } catch (err) {
      return { localPort: this.localPort, error: (err as Error).message };
    }
  }

  close(): void {
    this.#socket.destroy();
  }
}

let flows: HeldFlow[] = [];

let loop: { tally: Tally; running: boolean; done: Promise<void> } | undefined;

async function body(req: IncomingMessage): Promise<Record<string, unknown>> {
  let text = '';
  for await (const chunk of req) text += String(chunk);
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

function target(b: Record<string, unknown>): Target {
  return {
    proto: b.proto === 'udp' ? 'udp' : 'tcp',
    host: String(b.host),
    port: Number(b.port),
    timeoutMs: Number(b.timeoutMs ?? 1000),
  };
}

const server = createServer(async (req, res) => {
  const b = req.method === 'POST' ? await body(req) : {};
  let out: unknown;
  if (req.url === '/request') {
    const tally = newTally();
    for (let i = 0; i < Number(b.count ?? 1); i++) await once(target(b), tally);
    out = tally;
  } else if (req.url === '/loop/start') {
    const t = target(b);
    const interval = Number(b.intervalMs ?? 50);
    const state = { tally: newTally(), running: true, done: Promise.resolve() };
    state.done = (async () => {
      while (state.running) {
        await once(t, state.tally);
        await new Promise((r) => setTimeout(r, interval));
      }
    })();
    loop = state;
    out = state.tally;
  } else if (req.url === '/flows/open') {
    for (const f of flows) f.close();
    flows = Array.from({ length: Number(b.count ?? 1) }, () => new HeldFlow(String(b.host), Number(b.port)));
    out = await Promise.all(flows.map((f) => f.ask(Number(b.timeoutMs ?? 1000))));
  } else if (req.url === '/flows/ask') {
    out = await Promise.all(flows.map((f) => f.ask(Number(b.timeoutMs ?? 1000))));
  } else if (req.url === '/flows/close') {
    for (const f of flows) f.close();
    flows = [];
    out = {};
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
