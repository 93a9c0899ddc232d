// A mutating admission webhook that allocates nothing: it adds one annotation to each VIPClaim created in one
// namespace, as allocating the VIP inside the claim's create would. The alloc bench sends plain creates through it
// to measure what the admission hop alone costs the apiserver, the ceiling of any design that allocates at create
// instead of writing the claim's status afterwards. It serves from a worker thread, so its work does not queue
// behind the load generator's event loop (the allocator would be a process of its own).
import { createServer } from 'node:https';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import * as k8s from '@kubernetes/client-node';
import { generateCertificates } from '../../src/allocator/webhook/certs.ts';

const NAME = 'kube-lb-bench-noop-admission';
const ANNOTATION = 'kube-lb.io/bench-admitted';

interface ServeData {
  certPEM: string;
  keyPEM: string;
}

function serve({ certPEM, keyPEM }: ServeData): void {
  const server = createServer({ cert: certPEM, key: keyPEM }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        request: { uid: string; object: { metadata?: { annotations?: Record<string, string> } } };
      };
      const patch = review.request.object.metadata?.annotations
        ? [{ op: 'add', path: `/metadata/annotations/${ANNOTATION.replace('/', '~1')}`, value: 'true' }]
        : [{ op: 'add', path: '/metadata/annotations', value: { [ANNOTATION]: 'true' } }];
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          apiVersion: 'admission.k8s.io/v1',
          kind: 'AdmissionReview',
          response: {
            uid: review.request.uid,
            allowed: true,
            patchType: 'JSONPatch',
            patch: Buffer.from(JSON.stringify(patch)).toString('base64'),
          },
        }),
      );
    });
  });
  server.listen(0, '127.0.0.1', () => parentPort!.postMessage((server.address() as { port: number }).port));
}

if (!isMainThread && (workerData as { noopAdmission?: ServeData } | undefined)?.noopAdmission) {
  serve((workerData as { noopAdmission: ServeData }).noopAdmission);
}

export interface NoopAdmission {
  /** Whether a created object went through the webhook (it carries the annotation). */
  admitted(obj: { metadata?: { annotations?: Record<string, string> } }): boolean;
  /** Removes the configuration and stops the server. */
  stop(): Promise<void>;
}

/** Serves the webhook and registers it for VIPClaim creates in `namespace` (as the cluster admin). */
export async function startNoopAdmission(kc: k8s.KubeConfig, namespace: string): Promise<NoopAdmission> {
  const certs = await generateCertificates(['127.0.0.1']);
  const worker = new Worker(new URL(import.meta.url), {
    workerData: { noopAdmission: { certPEM: certs.certPEM, keyPEM: certs.keyPEM } },
  });
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  const api = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
  await api.createMutatingWebhookConfiguration({
    body: {
      metadata: { name: NAME },
      webhooks: [
        {
          name: 'noop.bench.kube-lb.io',
          admissionReviewVersions: ['v1'],
          sideEffects: 'None',
          failurePolicy: 'Fail',
          timeoutSeconds: 10,
          clientConfig: {
            url: `https://127.0.0.1:${port}/mutate`,
            caBundle: Buffer.from(certs.caPEM).toString('base64'),
          },
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } },
          rules: [{ apiGroups: ['kube-lb.io'], apiVersions: ['*'], operations: ['CREATE'], resources: ['vipclaims'] }],
        },
      ],
    },
  });
  return {
    admitted: (obj) => obj.metadata?.annotations?.[ANNOTATION] === 'true',
    async stop() {
      await api.deleteMutatingWebhookConfiguration({ name: NAME });
      await worker.terminate();
    },
  };
}
