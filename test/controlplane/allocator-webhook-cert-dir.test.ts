// The allocator's opt-out from its own webhook certificate (--webhook-cert-dir, what the Helm chart sets for
// cert-manager and GitOps): it serves exactly the mounted tls.crt/tls.key, writes neither the certificate Secret
// nor the caBundle of the shipped ValidatingWebhookConfiguration, and that configuration with the certificate's
// CA put in by its owner (here the test, as cert-manager or the chart's value does) makes the apiserver call it
// and act on its verdict.
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:tls';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { generateCertificates } from '../../src/allocator/webhook/certs.ts';
import { isNotFound } from '../../src/kube/client.ts';
import { startAllocator, waitReady } from '../../lab/allocator.ts';
import { freePort, startClusters } from '../../lab/controlplane.ts';
import { Ledger } from '../../lab/ledger.ts';
import { webhookConfigurationAt, webhookRefusal } from '../../lab/webhook-configuration.ts';

const ledger = Ledger.open('alloc-cert-dir');
const [lb] = await startClusters(ledger, [{ name: 'lb' }]);
const cluster = lb!;
t.teardown(() => cluster.stop());
const kc = cluster.kubeConfig;

t.test(
  '--webhook-cert-dir: serves the mounted certificate, leaves the Secret and the configuration alone',
  async (t) => {
    const port = await freePort();
    const url = `https://127.0.0.1:${port}/validate`;
    const certs = await generateCertificates(['127.0.0.1']);
    const dir = join(cluster.dir, 'webhook-tls');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'tls.crt'), certs.certPEM);
    writeFileSync(join(dir, 'tls.key'), certs.keyPEM, { mode: 0o600 });

    const allocator = await startAllocator(ledger, cluster, {
      identity: 'certdir',
      extraArgs: [
        '--webhook=true',
        `--webhook-bind-address=127.0.0.1:${port}`,
        `--webhook-url=${url}`,
        `--webhook-cert-dir=${dir}`,
      ],
    });
    t.teardown(() => allocator.proc.stop());
    await waitReady(allocator);

    const served = await new Promise<X509Certificate>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
        resolve(new X509Certificate(s.getPeerCertificate(true).raw));
        s.end();
      });
      s.once('error', reject);
    });
    t.equal(
      served.fingerprint256,
      new X509Certificate(certs.certPEM).fingerprint256,
      'the mounted certificate is served',
    );

    const absent = async (what: string, read: () => Promise<unknown>) => {
      try {
        await read();
        t.fail(`${what} exists`);
      } catch (err) {
        t.ok(isNotFound(err), `no ${what}`);
      }
    };
    await absent('Secret kube-lb-allocator-webhook-tls', () =>
      kc
        .makeApiClient(k8s.CoreV1Api)
        .readNamespacedSecret({ name: 'kube-lb-allocator-webhook-tls', namespace: 'default' }),
    );
    const admission = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
    await absent('ValidatingWebhookConfiguration kube-lb-allocator', () =>
      admission.readValidatingWebhookConfiguration({ name: 'kube-lb-allocator' }),
    );

    // The shipped configuration, applied by its owner with the CA (as cert-manager's injector or the chart's value does).
    const shipped = webhookConfigurationAt(url);
    const caBundle = Buffer.from(certs.caPEM).toString('base64');
    await admission.createValidatingWebhookConfiguration({
      body: {
        ...shipped,
        webhooks: shipped.webhooks!.map((w) => ({ ...w, clientConfig: { ...w.clientConfig, caBundle } })),
      },
    });
    await kc.makeApiClient(k8s.CoreV1Api).createNamespace({ body: { metadata: { name: 'stranger' } } });
    const denial = await webhookRefusal(kc, 'stranger');
    t.match(
      denial,
      /vipclaims\.kube-lb\.io/,
      'a claim from no tenant is refused by the webhook, through TLS with the mounted certificate',
    );
    const after = await admission.readValidatingWebhookConfiguration({ name: 'kube-lb-allocator' });
    t.equal(after.metadata?.generation, 1, 'the allocator never patched the configuration');
  },
);
