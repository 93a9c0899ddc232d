// The allocator's only write to its ValidatingWebhookConfiguration: the CA into `caBundle`. The configuration
// itself (rules, failure policies, endpoint) is the operator's, shipped in deploy/kube-lb-cluster/ and the Helm
// chart; the allocator's RBAC is get and patch on that one name, so it can neither create a configuration nor
// change what it intercepts. The patch is a strategic merge patch keyed by webhook name that carries the
// resourceVersion it was computed from: it touches caBundle alone, and an edit in between makes it a 409 that
// updateWithRetry answers by reading again.
import * as k8s from '@kubernetes/client-node';
import { apiMessage, apiStatus, isNotFound } from '../../kube/client.ts';
import { updateWithRetry } from '../../kube/update.ts';

export const WEBHOOK_PATH = '/validate';

export type CaBundleOutcome =
  | { kind: 'patched' | 'current'; webhooks: number }
  /** The configuration does not exist (not applied yet, or deleted): nothing to patch, the allocator creates none. */
  | { kind: 'missing' }
  /** The allocator may not read or patch it (RBAC: a configuration name other than the one its Role names). */
  | { kind: 'forbidden'; message: string };

const strategicMerge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch);

/** Puts `caPEM` into every webhook of configuration `name` whose caBundle differs. */
export async function patchCaBundle(kc: k8s.KubeConfig, name: string, caPEM: string): Promise<CaBundleOutcome> {
  const api = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
  const caBundle = Buffer.from(caPEM).toString('base64');
  try {
    const outcome = await updateWithRetry<k8s.V1ValidatingWebhookConfiguration>({
      read: () => api.readValidatingWebhookConfiguration({ name }),
      mutate: (current) =>
        (current.webhooks ?? []).some((w) => w.clientConfig.caBundle !== caBundle) ? current : undefined,
      write: (current) =>
        api.patchValidatingWebhookConfiguration(
          {
            name,
            body: {
              metadata: { resourceVersion: current.metadata?.resourceVersion },
              webhooks: (current.webhooks ?? []).map((w) => ({ name: w.name, clientConfig: { caBundle } })),
            },
          },
          strategicMerge,
        ),
    });
    return { kind: outcome.written ? 'patched' : 'current', webhooks: outcome.object.webhooks?.length ?? 0 };
  } catch (err) {
    if (isNotFound(err)) return { kind: 'missing' };
    if (apiStatus(err) === 403) return { kind: 'forbidden', message: apiMessage(err) };
    throw err;
  }
}
