// The allocator and the ValidatingWebhookConfiguration the manifests ship (21-allocator-webhook.yaml), against a
// real apiserver:
// - with no configuration applied, the allocator says so (an error naming it) and keeps serving: ready;
// - applied by the operator (server-side apply, with an edit of the operator's own), the allocator patches the CA
//   from its Secret into every webhook's caBundle and changes nothing else; the apiserver then calls it;
// - re-applying the same file keeps the caBundle (it is not a field of the file);
// - a caBundle stripped by a tool that replaces whole objects is patched back within a minute.
// Which permissions that takes (get and patch on the name, nothing else) is checked with the manifests' RBAC in
// install.test.ts.
import t from 'tap';
import { readFileSync } from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import { CA_BUNDLE_RECHECK_MS } from '../../src/allocator/webhook/start.ts';
import { eventually, startAllocator, waitReady, type AllocatorProcess } from '../../lab/allocator.ts';
import { freePort, startClusters } from '../../lab/controlplane.ts';
import { Ledger } from '../../lab/ledger.ts';
import { webhookConfigurationAt, webhookRefusal } from '../../lab/webhook-configuration.ts';

const ledger = Ledger.open('alloc-cabundle');
const [lb] = await startClusters(ledger, [{ name: 'lb' }]);
const cluster = lb!;
t.teardown(() => cluster.stop());
const kc = cluster.kubeConfig;
const admission = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
const NAME = 'kube-lb-allocator';

const port = await freePort();
const url = `https://127.0.0.1:${port}/validate`;
// The webhook flags by hand (not startAllocator's `webhook: true`, which applies the configuration first).
const run = async (identity: string): Promise<AllocatorProcess> => {
  const a = await startAllocator(ledger, cluster, {
    identity,
    extraArgs: ['--webhook=true', `--webhook-bind-address=127.0.0.1:${port}`, `--webhook-url=${url}`],
  });
  await waitReady(a);
  return a;
};

/** The operator's copy: the shipped file calling the test's URL, with a shorter timeout of the operator's choosing. */
const operatorCopy = (): k8s.V1ValidatingWebhookConfiguration => {
  const c = webhookConfigurationAt(url);
  return { ...c, webhooks: c.webhooks!.map((w) => ({ ...w, timeoutSeconds: 3 })) };
};
/** The webhooks of the shipped file, in order (the counts follow it as kinds are added). */
const shipped = operatorCopy().webhooks!;
const applyAsOperator = () =>
  k8s.KubernetesObjectApi.makeApiClient(kc).patch(
    operatorCopy(),
    undefined,
    undefined,
    'operator',
    true,
    k8s.PatchStrategy.ServerSideApply,
  );
const withoutCA = (c: k8s.V1ValidatingWebhookConfiguration) =>
  JSON.parse(
    JSON.stringify(c.webhooks!.map((w) => ({ ...w, clientConfig: { ...w.clientConfig, caBundle: undefined } }))),
  ) as unknown;
const caBundles = async () =>
  (await admission.readValidatingWebhookConfiguration({ name: NAME })).webhooks!.map((w) => w.clientConfig.caBundle);

t.test('no configuration: an error naming it, and the allocator serves on', async (t) => {
  const a = await run('before');
  t.teardown(() => a.proc.stop());
  const log = await eventually('the error in the log', async () => {
    const text = readFileSync(a.proc.logFile, 'utf8');
    return /ValidatingWebhookConfiguration kube-lb-allocator does not exist/.test(text) ? text : undefined;
  });
  t.match(log, /"level":"error"[^\n]*does not exist/, 'logged as an error');
  t.ok(await a.ready(), 'ready: the webhook serves, claims are decided');
  await t.rejects(admission.readValidatingWebhookConfiguration({ name: NAME }), 'and it created none');
});

t.test('applied by the operator: the caBundle alone is patched, and kept through a re-apply', async (t) => {
  await applyAsOperator();
  const a = await run('after');
  t.teardown(() => a.proc.stop());
  const secret = await kc
    .makeApiClient(k8s.CoreV1Api)
    .readNamespacedSecret({ name: 'kube-lb-allocator-webhook-tls', namespace: 'default' });
  const ca = secret.data!['ca.crt']!;
  t.strictSame(
    await caBundles(),
    shipped.map(() => ca),
    "every webhook trusts the CA in the allocator's Secret",
  );
  const patched = await admission.readValidatingWebhookConfiguration({ name: NAME });
  // (t.has: the apiserver adds its defaults, namespaceSelector and objectSelector.)
  t.has(
    withoutCA(patched),
    withoutCA(operatorCopy()),
    'everything else as the operator applied it (timeouts, failure policies, rules, URL)',
  );
  t.same(
    patched.webhooks!.map((w) => w.failurePolicy),
    shipped.map((w) => w.failurePolicy),
    'failure policies as shipped',
  );

  const denial = await webhookRefusal(kc, 'default');
  t.match(
    denial,
    /vipclaims\.kube-lb\.io/,
    'the apiserver verifies the webhook with the patched CA and acts on its verdict',
  );

  await applyAsOperator();
  t.strictSame(
    await caBundles(),
    shipped.map(() => ca),
    're-applying the shipped file keeps the caBundle',
  );

  // A tool that replaces the whole object (no caBundle in its copy): patched back at the next minute's check.
  const current = await admission.readValidatingWebhookConfiguration({ name: NAME });
  await admission.replaceValidatingWebhookConfiguration({
    name: NAME,
    body: {
      ...operatorCopy(),
      metadata: { ...operatorCopy().metadata, resourceVersion: current.metadata?.resourceVersion },
    },
  });
  t.strictSame(
    await caBundles(),
    shipped.map(() => undefined),
    'stripped',
  );
  await eventually(
    'the caBundle patched back',
    async () => ((await caBundles()).every((b) => b === ca) ? true : undefined),
    CA_BUNDLE_RECHECK_MS + 30_000,
    1000,
  );
  t.pass(`patched back within ${CA_BUNDLE_RECHECK_MS / 1000}s`);
});
