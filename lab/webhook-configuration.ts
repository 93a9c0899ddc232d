// The ValidatingWebhookConfiguration exactly as deploy/kube-lb-cluster/21-allocator-webhook.yaml ships it (the one
// source: tests, the lab topology and the chart's comparison read that file), and its one change for allocators
// that run as processes on loopback: the apiserver cannot reach the Service there, so each webhook calls
// `--webhook-url` instead. Everything else (rules, failure policies, timeouts) stays as shipped, and the
// allocator patches the caBundle as it does in a cluster.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { parse } from 'yaml';
import { apiMessage, isNotFound } from '../src/kube/client.ts';
import type { VIPClaim } from '../src/api/v1alpha1.ts';
import { eventually } from './eventually.ts';

const repoRoot = join(import.meta.dirname, '..');
export const WEBHOOK_CONFIGURATION_FILE = 'deploy/kube-lb-cluster/21-allocator-webhook.yaml';

export function shippedWebhookConfiguration(): k8s.V1ValidatingWebhookConfiguration {
  return parse(
    readFileSync(join(repoRoot, WEBHOOK_CONFIGURATION_FILE), 'utf8'),
  ) as k8s.V1ValidatingWebhookConfiguration;
}

/** The shipped configuration, each webhook calling `url` instead of the Service. */
export function webhookConfigurationAt(url: string): k8s.V1ValidatingWebhookConfiguration {
  const shipped = shippedWebhookConfiguration();
  return { ...shipped, webhooks: shipped.webhooks!.map((w) => ({ ...w, clientConfig: { url } })) };
}

/**
 * Creates or replaces the configuration with the shipped one calling `url` (as the cluster admin: the allocator
 * itself may only patch its caBundle). A caBundle already there is kept, so allocators started one after another
 * stay trusted (they share the CA through the webhook Secret).
 */
export async function applyWebhookConfigurationAt(kc: k8s.KubeConfig, url: string): Promise<void> {
  const api = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
  const desired = webhookConfigurationAt(url);
  const name = desired.metadata!.name!;
  let current: k8s.V1ValidatingWebhookConfiguration | undefined;
  try {
    current = await api.readValidatingWebhookConfiguration({ name });
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  if (!current) {
    await api.createValidatingWebhookConfiguration({ body: desired });
    return;
  }
  const caBundle = current.webhooks?.[0]?.clientConfig.caBundle;
  await api.replaceValidatingWebhookConfiguration({
    name,
    body: {
      ...desired,
      metadata: { ...desired.metadata, resourceVersion: current.metadata?.resourceVersion },
      webhooks: desired.webhooks!.map((w) => ({ ...w, clientConfig: { ...w.clientConfig, caBundle } })),
    },
  });
}

/**
 * Waits until the apiserver calls the webhook on a claim (a dry run) from a namespace no tenant owns, and returns
 * the webhook's refusal: proof that the configuration is in force and its caBundle verifies the serving certificate.
 */
export async function webhookRefusal(kc: k8s.KubeConfig, namespace: string): Promise<string> {
  const body: VIPClaim = {
    apiVersion: 'kube-lb.io/v1alpha1',
    kind: 'VIPClaim',
    metadata: { name: 'probe', namespace },
    spec: {
      service: { cluster: 'nobody', namespace: 'default', name: 'probe', uid: 'svc-probe' },
      ports: [{ protocol: 'TCP', port: 80, nodePort: 30080 }],
      backends: [{ nodeName: 'n1', address: '10.10.0.5', ready: true }],
      externalTrafficPolicy: 'Cluster',
    },
  };
  return eventually('the apiserver to call the webhook', async () => {
    try {
      await kc.makeApiClient(k8s.CustomObjectsApi).createNamespacedCustomObject({
        group: 'kube-lb.io',
        version: 'v1alpha1',
        plural: 'vipclaims',
        namespace,
        body,
        dryRun: 'All',
      });
      return undefined;
    } catch (err) {
      const m = apiMessage(err);
      return /denied the request/.test(m) ? m : undefined;
    }
  });
}
