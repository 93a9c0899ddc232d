// Wires the webhook: certificates from (or into) the Secret, the HTTPS server on the informer caches, and the CA
// patched into the caBundle of the ValidatingWebhookConfiguration the operator shipped (deploy/kube-lb-cluster/
// 21-allocator-webhook.yaml, or the chart). The allocator never creates that configuration: when it is missing,
// it says so (an error naming it, every minute until it appears) and keeps serving. An hourly check renews the
// certificate before it expires.
// With a certificate directory (--webhook-cert-dir: cert-manager or a GitOps-managed Secret, mounted), the
// certificate is someone else's: the allocator serves the files, re-reads them every minute, and writes neither
// the Secret nor the caBundle (cert-manager's CA injector or the chart's value fills it).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import type { Logger } from '../../shared/logger.ts';
import type { AllocatorController } from '../controller.ts';
import type { AllocatorMetrics } from '../metrics.ts';
import { ensureCertificates } from './certs.ts';
import { patchCaBundle, type CaBundleOutcome } from './registration.ts';
import { startWebhookServer } from './server.ts';

export interface StartWebhookOptions {
  kubeConfig: k8s.KubeConfig;
  controller: AllocatorController;
  namespace: string;
  bind: { host: string; port: number };
  /** The URL the configuration calls instead of the Service (tests, out-of-cluster runs): its host is certified. */
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
// The caBundle is looked at every minute: a configuration applied after the allocator started, or re-applied by
// a tool that replaces whole objects, is trusted again within a minute (one GET when nothing changed).
export const CA_BUNDLE_RECHECK_MS = 60_000;
// A mounted Secret changes on disk within about a minute of the Secret (kubelet sync); reading two files is cheap.
export const CERT_DIR_RECHECK_MS = 60_000;

export async function readCertDir(dir: string): Promise<{ certPEM: string; keyPEM: string }> {
  const [certPEM, keyPEM] = await Promise.all([
    readFile(join(dir, 'tls.crt'), 'utf8'),
    readFile(join(dir, 'tls.key'), 'utf8'),
  ]);
  return { certPEM, keyPEM };
}

export async function startWebhook(opts: StartWebhookOptions): Promise<RunningWebhook> {
  const { controller, logger } = opts;
  const hosts = opts.url
    ? [new URL(opts.url).hostname.replace(/^\[|\]$/g, '')]
    : [`${opts.service}.${opts.namespace}.svc`, `${opts.service}.${opts.namespace}.svc.cluster.local`];
  const certDir = opts.certDir;
  const certs = (): Promise<{ certPEM: string; keyPEM: string; caPEM?: string }> =>
    certDir
      ? readCertDir(certDir)
      : ensureCertificates({
          kubeConfig: opts.kubeConfig,
          namespace: opts.namespace,
          secretName: opts.secretName,
          hosts,
          logger,
        });
  let current = await certs();
  const server = await startWebhookServer({
    ...opts.bind,
    certPEM: current.certPEM,
    keyPEM: current.keyPEM,
    world: () => ({
      pools: controller.pools.list(),
      tenants: controller.tenants.list(),
      claims: controller.claims.list(),
      denied: controller.denyList.denied(),
      bgpPeers: controller.bgpPeers.list(),
      bgpAdvertisements: controller.bgpAdvertisements.list(),
      bfdProfiles: controller.bfdProfiles.list(),
    }),
    onVerdict: (kind, v) => opts.metrics.admission(kind, v.allowed),
    logger,
  });
  let lastOutcome: CaBundleOutcome['kind'] | undefined;
  const patchCA = async (): Promise<void> => {
    if (certDir || current.caPEM === undefined) return;
    const name = opts.configurationName;
    const outcome = await patchCaBundle(opts.kubeConfig, name, current.caPEM);
    if (outcome.kind === 'missing') {
      // Not fatal: claims keep being decided, and the webhook is a courtesy the allocator re-checks anyway.
      logger.error(
        { configuration: name },
        `ValidatingWebhookConfiguration ${name} does not exist, so the apiserver calls no webhook: apply deploy/kube-lb-cluster/21-allocator-webhook.yaml (or the chart); the allocator patches only its caBundle and never creates it`,
      );
    } else if (outcome.kind === 'forbidden') {
      logger.error(
        { configuration: name, error: outcome.message },
        `may not patch the caBundle of ValidatingWebhookConfiguration ${name}: the allocator's ClusterRole names the configuration it may patch (resourceNames)`,
      );
    } else if (outcome.kind === 'patched' || lastOutcome !== outcome.kind) {
      logger.info(
        { configuration: name, webhooks: outcome.webhooks, patched: outcome.kind === 'patched' },
        'webhook configuration trusts this CA',
      );
    }
    lastOutcome = outcome.kind;
  };
  const checkCA = (): Promise<void> =>
    patchCA().catch((err: unknown) =>
      logger.warn(
        { err, configuration: opts.configurationName },
        'webhook caBundle check failed; trying again in a minute',
      ),
    );
  await checkCA();
  logger.info({ port: server.port, hosts, certificates: certDir ?? `Secret ${opts.secretName}` }, 'webhook serving');

  const renewal = setInterval(
    () => {
      void (async () => {
        const next = await certs();
        if (next.certPEM !== current.certPEM) {
          current = next;
          server.setCertificate(next.certPEM, next.keyPEM);
          logger.info('webhook certificate renewed');
        }
        await patchCA();
      })().catch((err: unknown) => logger.warn({ err }, 'webhook certificate check failed'));
    },
    certDir ? CERT_DIR_RECHECK_MS : RECHECK_MS,
  );
  renewal.unref();
  const caCheck = certDir ? undefined : setInterval(() => void checkCA(), CA_BUNDLE_RECHECK_MS);
  caCheck?.unref();
  return {
    port: server.port,
    async close() {
      clearInterval(renewal);
      clearInterval(caCheck);
      await server.close();
    },
  };
}
