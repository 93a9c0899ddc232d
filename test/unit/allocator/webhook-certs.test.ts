// Webhook certificate bootstrap, without a cluster: what is generated verifies, names the hosts asked for, and is
// judged stale when it should be; the shipped configuration carries the failure policies the docs promise.
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import {
  caUsable,
  certificateProblem,
  generateCertificates,
  RENEW_BEFORE_MS,
} from '../../../src/allocator/webhook/certs.ts';
import { WEBHOOK_PATH } from '../../../src/allocator/webhook/registration.ts';
import { shippedWebhookConfiguration } from '../../../lab/webhook-configuration.ts';

t.test('a CA and a serving certificate for the hosts', async (t) => {
  const hosts = ['kube-lb-allocator.kube-lb-system.svc', '127.0.0.1'];
  const certs = await generateCertificates(hosts, new Date());
  t.equal(certificateProblem(certs, hosts), undefined);
  const cert = new X509Certificate(certs.certPEM);
  t.ok(cert.checkIssued(new X509Certificate(certs.caPEM)));
  t.match(cert.subjectAltName, /DNS:kube-lb-allocator\.kube-lb-system\.svc/);
  t.match(cert.subjectAltName, /IP Address:127\.0\.0\.1/);
  t.equal(certificateProblem(certs, ['10.0.0.1']), 'does not name 10.0.0.1');
  const late = new Date(Date.parse(cert.validTo) - RENEW_BEFORE_MS + 1000);
  t.match(certificateProblem(certs, hosts, late), /^expires /);
  const other = await generateCertificates(hosts);
  t.equal(certificateProblem({ ...certs, caPEM: other.caPEM }, hosts), 'not signed by the CA beside it');
  t.match(certificateProblem({ ...certs, certPEM: 'junk' }, hosts), /^unreadable/);
});

t.test('a renewal re-issues the serving certificate under the same CA', async (t) => {
  const certs = await generateCertificates(['a.svc']);
  t.ok(caUsable(certs));
  const renewed = await generateCertificates(['a.svc', 'b.svc'], new Date(), certs);
  t.equal(renewed.caPEM, certs.caPEM, 'same CA: the caBundle in the apiserver stays valid');
  t.not(renewed.certPEM, certs.certPEM);
  t.equal(certificateProblem(renewed, ['a.svc', 'b.svc']), undefined);
  t.notOk(caUsable({ ...certs, caKeyPEM: undefined }), 'no CA key: a new CA is needed');
  t.notOk(caUsable(certs, new Date(Date.now() + 3650 * 86_400_000)), 'a CA near its end is replaced');
});

t.test('the shipped configuration: one endpoint, no CA of its own, a failure policy per rule', async (t) => {
  const c = shippedWebhookConfiguration();
  t.same(
    c.webhooks!.map((w) => `${w.name} ${w.rules![0]!.operations!.join('+')} ${w.failurePolicy}`),
    [
      'vippools.kube-lb.io CREATE+UPDATE Fail',
      'vippools-delete.kube-lb.io DELETE Ignore',
      'consumerclusters.kube-lb.io CREATE+UPDATE Fail',
      'vipclaims.kube-lb.io CREATE+UPDATE Ignore',
      'bgppeers.kube-lb.io CREATE+UPDATE Fail',
      'bgpadvertisements.kube-lb.io CREATE+UPDATE Ignore',
      'bfdprofiles-delete.kube-lb.io DELETE Ignore',
    ],
  );
  for (const w of c.webhooks!) {
    t.same(
      w.clientConfig,
      { service: { namespace: 'kube-lb-system', name: 'kube-lb-allocator', path: WEBHOOK_PATH, port: 443 } },
      `${w.name}: the Service, no caBundle (the allocator patches it)`,
    );
  }
  t.ok(
    c.webhooks!.every((w) => w.sideEffects === 'None' && w.rules![0]!.resources!.every((r) => !r.includes('/'))),
    'no status subresources',
  );
});
