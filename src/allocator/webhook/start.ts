// Wires the webhook: certificates from (or into) the Secret, the HTTPS server on the informer caches, and the
// ValidatingWebhookConfiguration with the CA. An hourly check renews the certificate before it expires.
// With a certificate directory (--webhook-cert-dir: cert-manager or a GitOps-managed Secret, mounted), the
// certificate is someone else's: the allocator serves the files, re-reads them every minute, and writes neither
// the Secret nor the configuration (the Helm chart renders it).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import type { Logger } from '../../shared/logger.ts';
import type { AllocatorController } from '../controller.ts';
import type { AllocatorMetrics } from '../metrics.ts';
import { ensureCertificates } from './certs.ts';
import { registerWebhook, webhookConfiguration, type Endpoint } from './registration.ts';
import { startWebhookServer } from './server.ts';

export interface StartWebhookOptions {
  kubeConfig: k8s.KubeConfig;
  controller: AllocatorController;
  namespace: string;
  bind: { host: string; port: number };
  /** Register this URL (tests, out-of-cluster runs); unset: the Service. */
  url: string | undefined;
  service: string;
  configurationName: string;
  secretName: string;
  /** Serve tls.crt/tls.key from here and leave the Secret and the configuration alone. */
  certDir?: string | undefined;
  metrics: AllocatorMetrics;
  logger: Logger;
}

export interface RunningWebhook {
  readonly port: number;
  close(): Promise<void>;
}

// Hourly: a replica picks up a certificate another replica re-issued (same CA, so both stay valid meanwhile).
const RECHECK_MS = 3_600_000;
// A mounted Secret changes on disk within about a minute of the Secret (kubelet sync); reading two files is cheap.
export const CERT_DIR_RECHECK_MS = 60_000;

export async function readCertDir(dir: string): Promise<{ certPEM: string; keyPEM: string }> {
  const [certPEM, keyPEM] = await Promise.all([readFile(join(dir, 'tls.crt'), 'utf8'), readFile(join(dir, 'tls.key'), 'utf8')]);
  return { certPEM, keyPEM };
}

export async function startWebhook(opts: StartWebhookOptions): Promise<RunningWebhook> {
  const { controller, logger } = opts;
  const endpoint: Endpoint = opts.url ? { url: opts.url } : { service: { namespace: opts.namespace, name: opts.service } };
  const hosts = opts.url
    ? [new URL(opts.url).hostname.replace(/^\[|\]$/g, '')]
    : [`${opts.service}.${opts.namespace}.svc`, `${opts.service}.${opts.namespace}.svc.cluster.local`];
  const certDir = opts.certDir;
  const certs = (): Promise<{ certPEM: string; keyPEM: string; caPEM?: string }> =>
    certDir
      ? readCertDir(certDir)
      : ensureCertificates({ kubeConfig: opts.kubeConfig, namespace: opts.namespace, secretName: opts.secretName, hosts, logger });
  let current = await certs();
  const server = await startWebhookServer({
    ...opts.bind,
    certPEM: current.certPEM,
    keyPEM: current.keyPEM,
    world: () => ({ pools: controller.pools.list(), tenants: controller.tenants.list(), claims: controller.claims.list() }),
    onVerdict: (kind, v) => opts.metrics.admission(kind, v.allowed),
    logger,
  });
  const register = async (): Promise<void> => {
    if (certDir || current.caPEM === undefined) return;
    const wrote = await registerWebhook(opts.kubeConfig, webhookConfiguration(opts.configurationName, endpoint, current.caPEM));
    if (wrote) logger.info({ configuration: opts.configurationName, endpoint }, 'webhook registered');
  };
  await register();
  logger.info({ port: server.port, hosts, certificates: certDir ?? `Secret ${opts.secretName}` }, 'webhook serving');

  const timer = setInterval(() => {
    void (async () => {
      const next = await certs();
      if (next.certPEM !== current.certPEM) {
        current = next;
        server.setCertificate(next.certPEM, next.keyPEM);
        logger.info('webhook certificate renewed');
      }
      await register();
    })().catch((err: unknown) => logger.warn({ err }, 'webhook certificate check failed'));
  }, certDir ? CERT_DIR_RECHECK_MS : RECHECK_MS);
  timer.unref();
  return {
    port: server.port,
    async close() {
      clearInterval(timer);
      await server.close();
    },
  };
}
