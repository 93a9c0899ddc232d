// Consumer-cluster objects for agent tests and the lab topology's backend pods: LoadBalancer Services, and Pods made
// "ready" without a kubelet (status written directly) so the EndpointSlice controller lists them as endpoints on their nodes.
import * as k8s from '@kubernetes/client-node';
import { LOAD_BALANCER_CLASS } from '../src/api/v1alpha1.ts';

export interface LbServiceOptions {
  ports?: k8s.V1ServicePort[];
  loadBalancerClass?: string | null;
  annotations?: Record<string, string>;
  externalTrafficPolicy?: 'Cluster' | 'Local';
  selector?: Record<string, string>;
}

export function lbService(namespace: string, name: string, o: LbServiceOptions = {}): k8s.V1Service {
  return {
    metadata: { namespace, name, ...(o.annotations ? { annotations: o.annotations } : {}) },
    spec: {
      type: 'LoadBalancer',
      ...(o.loadBalancerClass === null ? {} : { loadBalancerClass: o.loadBalancerClass ?? LOAD_BALANCER_CLASS }),
      ports: o.ports ?? [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 }],
      selector: o.selector ?? { app: name },
      ...(o.externalTrafficPolicy ? { externalTrafficPolicy: o.externalTrafficPolicy } : {}),
    },
  };
}

export async function ensureNamespace(core: k8s.CoreV1Api, name: string): Promise<void> {
  try {
    await core.createNamespace({ body: { metadata: { name } } });
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw err;
  }
}

/** A Pod bound to `nodeName`, then marked Running and Ready (or not) with `podIP`. */
export async function runPod(
  core: k8s.CoreV1Api,
  namespace: string,
  name: string,
  o: { nodeName: string; labels: Record<string, string>; podIP: string; ready?: boolean },
): Promise<void> {
  await core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name, namespace, labels: o.labels },
      spec: {
        nodeName: o.nodeName,
        containers: [{ name: 'app', image: 'example.invalid/app:1', ports: [{ containerPort: 8080 }] }],
      },
    },
  });
  await setPodReady(core, namespace, name, o.podIP, o.ready ?? true);
}

export async function setPodReady(
  core: k8s.CoreV1Api,
  namespace: string,
  name: string,
  podIP: string,
  ready: boolean,
): Promise<void> {
  const now = new Date();
  const status = ready ? 'True' : 'False';
  await core.patchNamespacedPodStatus(
    {
      name,
      namespace,
      body: {
        status: {
          phase: 'Running',
          podIP,
          podIPs: [{ ip: podIP }],
          conditions: [
            { type: 'Ready', status, lastTransitionTime: now },
            { type: 'ContainersReady', status, lastTransitionTime: now },
          ],
        },
      },
    },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );
}
