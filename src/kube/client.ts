// Builds a KubeConfig from a kubeconfig file, the in-cluster service account, or the usual defaults, and
// classifies API errors so callers can tell "try again later" from "this input is wrong".
import * as k8s from '@kubernetes/client-node';
import { KubeLbError, type ObjectRef } from '../shared/errors.ts';

export interface KubeConfigSource {
  /** Path to a kubeconfig file; unset: in-cluster when running in a pod, else $KUBECONFIG / ~/.kube/config. */
  kubeconfig?: string | undefined;
  context?: string | undefined;
}

export function loadKubeConfig(source: KubeConfigSource): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  if (source.kubeconfig) kc.loadFromFile(source.kubeconfig);
  else kc.loadFromDefault();
  if (source.context) kc.setCurrentContext(source.context);
  return kc;
}

/** HTTP status of an API error, or undefined for network-level failures. */
export function apiStatus(err: unknown): number | undefined {
  return err instanceof k8s.ApiException ? err.code : undefined;
}

export const isNotFound = (err: unknown): boolean => apiStatus(err) === 404;
export const isConflict = (err: unknown): boolean => apiStatus(err) === 409;
export const isAlreadyExists = (err: unknown): boolean => apiStatus(err) === 409;

/** API message text from an ApiException body (the apiserver's own words, e.g. a validation failure). */
export function apiMessage(err: unknown): string {
  if (err instanceof k8s.ApiException) {
    const body: unknown = err.body;
    if (typeof body === 'string') {
      try {
        const parsed = JSON.parse(body) as { message?: string };
        return parsed.message ?? body;
      } catch {
        return body;
      }
    }
    if (body && typeof body === 'object' && 'message' in body) return String((body as { message: unknown }).message);
  }
  return err instanceof Error ? err.message : String(err);
}

/** Transient: network failures, 409 conflicts, 429, 5xx. Permanent: other 4xx. */
export function isTransientApiError(err: unknown): boolean {
  const status = apiStatus(err);
  return status === undefined || status === 409 || status === 429 || status >= 500;
}

export class KubeApiError extends KubeLbError {
  readonly status: number | undefined;
  constructor(action: string, object: ObjectRef | undefined, cause: unknown) {
    const status = apiStatus(cause);
    super(
      'KUBE_API',
      `${action}${object ? ` ${object.kind} ${object.namespace ? `${object.namespace}/` : ''}${object.name}` : ''}: ${apiMessage(cause)}`,
      {
        object,
        cause,
        transient: isTransientApiError(cause),
      },
    );
    this.status = status;
  }
}
