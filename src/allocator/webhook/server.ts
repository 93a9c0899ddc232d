// The webhook's HTTPS endpoint: AdmissionReview v1 in, AdmissionReview v1 out. It reads only the allocator's
// informer caches (every replica has them warm), so it answers on stand-bys too.
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { admit, type AdmissionInput, type Verdict, type World } from '../../core/allocation/admission.ts';
import type { Logger } from '../../shared/logger.ts';
import { WEBHOOK_PATH } from './registration.ts';
import { KubeLbError } from '../../shared/errors.ts';

const MAX_BODY = 3 * 1024 * 1024;

interface AdmissionReviewRequest {
  apiVersion?: string;
  kind?: string;
  request?: {
    uid: string;
    kind?: { kind?: string };
    operation?: AdmissionInput['operation'];
    object?: unknown;
    oldObject?: unknown;
    name?: string;
    namespace?: string;
  };
}

export interface WebhookServerOptions {
  host: string;
  port: number;
  certPEM: string;
  keyPEM: string;
  world: () => World;
  onVerdict?: (kind: string, verdict: Verdict) => void;
  logger: Logger;
}

export interface WebhookServer {
  readonly port: number;
  /** Serves new certificates to new connections. */
  setCertificate(certPEM: string, keyPEM: string): void;
  close(): Promise<void>;
}

/** The response to one review; exported for tests. */
export function review(
  body: AdmissionReviewRequest,
  world: World,
): { response: object; kind: string; verdict: Verdict } {
  const req = body.request;
  if (!req?.uid) throw new KubeLbError('WEBHOOK_BAD_REQUEST', 'not an AdmissionReview request (no request.uid)');
  const kind = req.kind?.kind ?? '';
  const verdict = admit(
    { operation: req.operation ?? 'CREATE', kind, object: req.object, oldObject: req.oldObject },
    world,
  );
  return {
    kind,
    verdict,
    response: {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: {
        uid: req.uid,
        allowed: verdict.allowed,
        ...(verdict.allowed ? {} : { status: { code: 422, reason: 'Invalid', message: verdict.message } }),
        ...(verdict.warnings.length > 0 ? { warnings: verdict.warnings } : {}),
      },
    },
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new KubeLbError('WEBHOOK_BAD_REQUEST', `request body larger than ${MAX_BODY} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export async function startWebhookServer(opts: WebhookServerOptions): Promise<WebhookServer> {
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method !== 'POST' || (req.url ?? '').split('?')[0] !== WEBHOOK_PATH) {
      res.writeHead(404).end();
      return;
    }
    try {
      const body = JSON.parse(await readBody(req)) as AdmissionReviewRequest;
      const { response, kind, verdict } = review(body, opts.world());
      opts.onVerdict?.(kind, verdict);
      if (!verdict.allowed) {
        opts.logger.info(
          {
            kind,
            name: body.request?.name,
            namespace: body.request?.namespace,
            operation: body.request?.operation,
            message: verdict.message,
          },
          'admission denied',
        );
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(response));
    } catch (err) {
      opts.logger.warn({ err }, 'bad admission request');
      res.writeHead(400, { 'content-type': 'text/plain' }).end(`${(err as Error).message}\n`);
    }
  };
  const server: Server = createServer(
    { cert: opts.certPEM, key: opts.keyPEM, minVersion: 'TLSv1.2' },
    (req, res) => void handle(req, res),
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr ? addr.port : opts.port,
    setCertificate: (cert, key) => server.setSecureContext({ cert, key }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
