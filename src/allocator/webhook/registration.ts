// The ValidatingWebhookConfiguration the allocator keeps in step with its code and its CA: created at start,
// replaced when its rules, endpoint or caBundle differ. Failure policies, per rule:
//  - VIPPool and ConsumerCluster create/update: Fail. They are rare operator actions; refusing them while no
//    allocator answers is safe and loud. (Escape hatch: delete this configuration.)
//  - VIPClaim create/update: Ignore. Agents write claims all the time; an allocator outage must not stop them,
//    and the allocator re-checks every claim and marks what is wrong when it is back.
//  - VIPPool delete: Ignore. Only warns about claims left outside any pool; never refuses.
import * as k8s from '@kubernetes/client-node';
import { GROUP, PLURALS, VERSION } from '../../api/v1alpha1.ts';
import { isConflict, isNotFound } from '../../kube/client.ts';

export const WEBHOOK_PATH = '/validate';

export type Endpoint = { url: string } | { service: { namespace: string; name: string; port?: number } };

export function webhookConfiguration(name: string, endpoint: Endpoint, caPEM: string): k8s.V1ValidatingWebhookConfiguration {
  const caBundle = Buffer.from(caPEM).toString('base64');
  const clientConfig: k8s.AdmissionregistrationV1WebhookClientConfig =
    'url' in endpoint
      ? { url: endpoint.url, caBundle }
      : { service: { namespace: endpoint.service.namespace, name: endpoint.service.name, path: WEBHOOK_PATH, port: endpoint.service.port ?? 443 }, caBundle };
  const hook = (
    suffix: string,
    plural: string,
    operations: string[],
    failurePolicy: 'Fail' | 'Ignore',
  ): k8s.V1ValidatingWebhook => ({
    name: `${suffix}.${GROUP}`,
    admissionReviewVersions: ['v1'],
    sideEffects: 'None',
    timeoutSeconds: 5,
    failurePolicy,
    matchPolicy: 'Equivalent',
    clientConfig,
    rules: [{ apiGroups: [GROUP], apiVersions: [VERSION], operations, resources: [plural], scope: '*' }],
  });
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name, labels: { 'app.kubernetes.io/name': 'kube-lb-allocator' } },
    webhooks: [
      hook('vippools', PLURALS.VIPPool, ['CREATE', 'UPDATE'], 'Fail'),
      hook('vippools-delete', PLURALS.VIPPool, ['DELETE'], 'Ignore'),
      hook('consumerclusters', PLURALS.ConsumerCluster, ['CREATE', 'UPDATE'], 'Fail'),
      hook('vipclaims', PLURALS.VIPClaim, ['CREATE', 'UPDATE'], 'Ignore'),
    ],
  };
}

/** Creates or replaces the configuration; returns whether anything was written. */
export async function registerWebhook(kc: k8s.KubeConfig, desired: k8s.V1ValidatingWebhookConfiguration): Promise<boolean> {
  const api = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
  const name = desired.metadata!.name!;
  for (let attempt = 0; attempt < 5; attempt++) {
    let current: k8s.V1ValidatingWebhookConfiguration | undefined;
    try {
      current = await api.readValidatingWebhookConfiguration({ name });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    try {
      if (!current) {
        await api.createValidatingWebhookConfiguration({ body: desired });
        return true;
      }
      if (sameWebhooks(current.webhooks ?? [], desired.webhooks ?? [])) return false;
      await api.replaceValidatingWebhookConfiguration({
        name,
        body: { ...desired, metadata: { ...desired.metadata, resourceVersion: current.metadata?.resourceVersion } },
      });
      return true;
    } catch (err) {
      if (!isConflict(err)) throw err;
    }
  }
  throw new Error(`could not register ValidatingWebhookConfiguration ${name}: kept conflicting`);
}

function sameWebhooks(have: readonly k8s.V1ValidatingWebhook[], want: readonly k8s.V1ValidatingWebhook[]): boolean {
  const digest = (w: k8s.V1ValidatingWebhook) =>
    JSON.stringify([w.name, w.failurePolicy, w.timeoutSeconds, w.sideEffects, w.clientConfig.url, w.clientConfig.service?.name,
      w.clientConfig.service?.namespace, w.clientConfig.service?.path, w.clientConfig.service?.port, w.clientConfig.caBundle,
      (w.rules ?? []).map((r) => [r.apiGroups, r.apiVersions, r.operations, r.resources])]);
  return have.length === want.length && have.every((w, i) => digest(w) === digest(want[i]!));
}
