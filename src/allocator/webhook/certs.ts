// Certificate bootstrap for the webhook, so the operator never makes one by hand: a private CA and a serving
// certificate (ECDSA P-256) are generated with @peculiar/x509 on WebCrypto and kept in a Secret, so every
// replica serves the same certificate and the apiserver trusts it through the caBundle the allocator writes
// into its ValidatingWebhookConfiguration. A serving certificate that does not name the hosts in use, or that
// expires within 30 days, is re-issued from the same CA (so the caBundle, and the certificate a replica that
// has not reloaded yet still serves, stay valid); the CA itself is replaced only when it nears its own end.
import 'reflect-metadata';
import { X509Certificate, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';
import * as k8s from '@kubernetes/client-node';
import { isConflict } from '../../kube/client.ts';
import { readIfExists, updateWithRetry } from '../../kube/update.ts';
import { invariant, KubeLbError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/logger.ts';

x509.cryptoProvider.set(globalThis.crypto);

export interface WebhookCertificates {
  caPEM: string;
  /** The CA's private key, so any replica can re-issue the serving certificate under the same CA. */
  caKeyPEM: string;
  certPEM: string;
  keyPEM: string;
}

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY = 86_400_000;
export const RENEW_BEFORE_MS = 30 * DAY;

function pem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n');
  return `-----BEGIN ${label}-----\n${b64.trimEnd()}\n-----END ${label}-----\n`;
}

function serial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0]! &= 0x7f; // positive
  return Buffer.from(bytes).toString('hex');
}

async function newCA(now: Date): Promise<{ ca: x509.X509Certificate; key: webcrypto.CryptoKey; caKeyPEM: string }> {
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: 'CN=kube-lb-allocator webhook CA',
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + 3650 * DAY),
    signingAlgorithm: ALG,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return {
    ca,
    key: keys.privateKey,
    caKeyPEM: pem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)),
  };
}

async function loadCA(
  caPEM: string,
  caKeyPEM: string,
): Promise<{ ca: x509.X509Certificate; key: webcrypto.CryptoKey }> {
  const der = Buffer.from(caKeyPEM.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  const key = await webcrypto.subtle.importKey('pkcs8', der, ALG, true, ['sign']);
  return { ca: new x509.X509Certificate(caPEM), key };
}

/**
 * A serving certificate for `hosts` (DNS names or IPs, 1 year), signed by the CA in `reuse` when given, else by
 * a new CA (10 years).
 */
export async function generateCertificates(
  hosts: readonly string[],
  now = new Date(),
  reuse?: Pick<WebhookCertificates, 'caPEM' | 'caKeyPEM'>,
): Promise<WebhookCertificates> {
  const {
    ca,
    key: caKey,
    caKeyPEM,
  } = reuse ? { ...(await loadCA(reuse.caPEM, reuse.caKeyPEM)), caKeyPEM: reuse.caKeyPEM } : await newCA(now);
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${hosts[0] ?? 'kube-lb-allocator'}`,
    issuer: ca.subject,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + 365 * DAY),
    signingAlgorithm: ALG,
    publicKey: keys.publicKey,
    signingKey: caKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(
        hosts.map((h) => ({ type: isIP(h) ? ('ip' as const) : ('dns' as const), value: h })),
      ),
      await x509.AuthorityKeyIdentifierExtension.create(ca),
    ],
  });
  return {
    caPEM: reuse ? reuse.caPEM : `${ca.toString('pem')}\n`,
    caKeyPEM,
    certPEM: `${cert.toString('pem')}\n`,
    keyPEM: pem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)),
  };
}

/** Whether the CA can keep signing: readable, its key present, and not within the renewal window of its end. */
export function caUsable(certs: Partial<WebhookCertificates>, now = new Date()): boolean {
  if (!certs.caPEM || !certs.caKeyPEM) return false;
  try {
    return Date.parse(new X509Certificate(certs.caPEM).validTo) - now.getTime() > RENEW_BEFORE_MS;
  } catch {
    return false;
  }
}

/** Why `certs` cannot serve `hosts` at `now`, or undefined when they can. */
export function certificateProblem(
  certs: Pick<WebhookCertificates, 'caPEM' | 'certPEM'>,
  hosts: readonly string[],
  now = new Date(),
): string | undefined {
  let cert: X509Certificate;
  let ca: X509Certificate;
  try {
    cert = new X509Certificate(certs.certPEM);
    ca = new X509Certificate(certs.caPEM);
  } catch (err) {
    return `unreadable: ${(err as Error).message}`;
  }
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) return 'not signed by the CA beside it';
  if (Date.parse(cert.validTo) - now.getTime() < RENEW_BEFORE_MS) return `expires ${cert.validTo}`;
  for (const h of hosts) {
    const ok = isIP(h) ? cert.checkIP(h) !== undefined : cert.checkHost(h) !== undefined;
    if (!ok) return `does not name ${h}`;
  }
  return undefined;
}

const KEYS = { ca: 'ca.crt', caKey: 'ca.key', cert: 'tls.crt', key: 'tls.key' } as const;

function fromSecret(s: k8s.V1Secret): Partial<WebhookCertificates> {
  const get = (k: string): string | undefined =>
    s.data?.[k] ? Buffer.from(s.data[k], 'base64').toString('utf8') : undefined;
  return { caPEM: get(KEYS.ca), caKeyPEM: get(KEYS.caKey), certPEM: get(KEYS.cert), keyPEM: get(KEYS.key) };
}

function complete(c: Partial<WebhookCertificates>): c is WebhookCertificates {
  return !!(c.caPEM && c.caKeyPEM && c.certPEM && c.keyPEM);
}

function toData(c: WebhookCertificates): Record<string, string> {
  const b64 = (t: string): string => Buffer.from(t).toString('base64');
  return {
    [KEYS.ca]: b64(c.caPEM),
    [KEYS.caKey]: b64(c.caKeyPEM),
    [KEYS.cert]: b64(c.certPEM),
    [KEYS.key]: b64(c.keyPEM),
  };
}

export interface EnsureCertificatesOptions {
  kubeConfig: k8s.KubeConfig;
  namespace: string;
  secretName: string;
  hosts: readonly string[];
  logger: Logger;
}

/**
 * The certificates in the Secret when they serve `hosts`, else new ones written there. Replicas racing at
 * start converge on whichever write the apiserver accepted first (create conflicts, update is conditional).
 */
export async function ensureCertificates(opts: EnsureCertificatesOptions): Promise<WebhookCertificates> {
  const core = opts.kubeConfig.makeApiClient(k8s.CoreV1Api);
  const { namespace, secretName: name } = opts;
  let issued: WebhookCertificates | undefined;
  try {
    const outcome = await updateWithRetry<k8s.V1Secret | undefined>({
      read: () => readIfExists(() => core.readNamespacedSecret({ name, namespace })),
      mutate: async (existing) => {
        const current = existing ? fromSecret(existing) : {};
        const problem = complete(current) ? certificateProblem(current, opts.hosts) : 'missing';
        if (complete(current) && !problem) return undefined;
        const reuse = caUsable(current) ? { caPEM: current.caPEM!, caKeyPEM: current.caKeyPEM! } : undefined;
        opts.logger.info(
          { secret: `${namespace}/${name}`, reason: problem, hosts: opts.hosts, newCA: !reuse },
          'issuing the webhook certificate',
        );
        issued = await generateCertificates(opts.hosts, new Date(), reuse);
        return existing
          ? { ...existing, type: 'kubernetes.io/tls', data: toData(issued) }
          : {
              metadata: { name, namespace, labels: { 'app.kubernetes.io/name': 'kube-lb-allocator' } },
              type: 'kubernetes.io/tls',
              data: toData(issued),
            };
      },
      // A conflict (create or update) is another replica writing first: read again and use theirs if they serve.
      write: (body, existing) =>
        existing
          ? core.replaceNamespacedSecret({ name, namespace, body })
          : core.createNamespacedSecret({ namespace, body }),
    });
    const settled = outcome.written ? issued : fromSecret(outcome.object ?? {});
    invariant(settled && complete(settled), 'mutate() keeps a Secret only when it holds all four PEMs');
    return settled;
  } catch (err) {
    if (!isConflict(err)) throw err;
    throw new KubeLbError(
      'WEBHOOK_CERTIFICATES',
      `could not settle the webhook certificates in Secret ${namespace}/${name}: another writer won every attempt`,
      {
        object: { kind: 'Secret', namespace, name },
        cause: err,
        transient: true,
      },
    );
  }
}
