// The small HTTP server every program exposes: /metrics (Prometheus, from the registry passed in), /healthz
// (the process is alive and its loops turn) and /readyz (it can do its job: caches synced, maps open, ...).
import { rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import type { Logger } from './logger.ts';

export interface Probe {
  name: string;
  /** Returns undefined when healthy, else a short reason. */
  check(): string | undefined;
}

export interface StatusServerOptions {
  host: string;
  port: number;
  /**
   * Listen on this Unix socket instead of host:port (reachable from any network namespace on the host). A socket
   * file left by an earlier process is replaced, and the file is removed on close.
   */
  socketPath?: string;
  /** Extra read-only endpoints answered with the JSON of what the function returns (e.g. the speaker's /state). */
  json?: Readonly<Record<string, () => unknown>>;
  registry: Registry;
  /**
   * Decides who may read /metrics and the JSON endpoints (the probes stay open): a refusal's status and message,
   * or undefined to serve. Unset: everyone (a Unix socket, a loopback address).
   */
  protect?: (req: IncomingMessage, path: string) => Promise<{ status: number; message: string } | undefined>;
  liveness?: readonly Probe[];
  readiness?: readonly Probe[];
  logger: Logger;
}

export interface StatusServer {
  readonly port: number;
  close(): Promise<void>;
}

function failing(probes: readonly Probe[] | undefined): string[] {
  return (probes ?? []).flatMap((p) => {
    const reason = p.check();
    return reason === undefined ? [] : [`${p.name}: ${reason}`];
  });
}

export async function startStatusServer(opts: StatusServerOptions): Promise<StatusServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const guarded = path === '/metrics' || (opts.json !== undefined && Object.hasOwn(opts.json, path));
    if (!guarded || !opts.protect) {
      serve(req, res, path);
      return;
    }
    opts.protect(req, path).then(
      (refusal) => {
        if (refusal) res.writeHead(refusal.status, { 'content-type': 'text/plain' }).end(`${refusal.message}\n`);
        else serve(req, res, path);
      },
      (err: unknown) => {
        opts.logger.warn({ err, path }, 'status server: could not decide on a request');
        res.writeHead(500).end();
      },
    );
  });
  const serve = (_req: IncomingMessage, res: ServerResponse, path: string): void => {
    if (path === '/metrics') {
      opts.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': opts.registry.contentType });
          res.end(text);
        },
        (err: unknown) => {
          opts.logger.warn({ err }, 'metrics collection failed');
          res.writeHead(500).end();
        },
      );
      return;
    }
    const json = path !== undefined && opts.json && Object.hasOwn(opts.json, path) ? opts.json[path] : undefined;
    if (json) {
      let body: string;
      try {
        body = `${JSON.stringify(json(), null, 2)}\n`;
      } catch (err) {
        opts.logger.warn({ err, path }, 'status endpoint failed');
        res.writeHead(500).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
      return;
    }
    const probes = path === '/healthz' ? opts.liveness : path === '/readyz' ? opts.readiness : undefined;
    if (probes === undefined && path !== '/healthz' && path !== '/readyz') {
      res.writeHead(404).end('not found\n');
      return;
    }
    const bad = failing(probes);
    res.writeHead(bad.length === 0 ? 200 : 503, { 'content-type': 'text/plain' });
    res.end(bad.length === 0 ? 'ok\n' : `${bad.join('\n')}\n`);
  };
  const socketPath = opts.socketPath;
  if (socketPath) rmSync(socketPath, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (socketPath) server.listen(socketPath, () => resolve());
    else server.listen(opts.port, opts.host, () => resolve());
  });
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr ? addr.port : opts.port,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (socketPath) rmSync(socketPath, { force: true });
    },
  };
}
