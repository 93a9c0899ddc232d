// Who may read a program's /metrics and /state over the network: the caller's bearer token is checked with the
// API server (TokenReview), and its user must be allowed `get` on the path (SubjectAccessReview, nonResourceURLs),
// as kube-rbac-proxy and controller-runtime's secure metrics do. The speaker runs on the host network, so without
// this every host on the client segment could read every tenant's VIPs, backends and health. Requests from the
// node itself (loopback) stay open: `kube-lb speaker state` on the node, and root there can read the maps anyway.
// Verdicts are cached per token and path for a minute, so a scrape every few seconds costs the API server nothing.
import type { IncomingMessage } from 'node:http';
import * as k8s from '@kubernetes/client-node';
import type { Logger } from '../shared/logger.ts';

export interface Refusal {
  readonly status: 401 | 403;
  readonly message: string;
}

export interface RequestAuthorizer {
  /** undefined: the request may read `path`. */
  check(req: IncomingMessage, path: string): Promise<Refusal | undefined>;
}

export interface TokenAuthorizerOptions {
  readonly logger: Logger;
  /** Requests from 127.0.0.0/8 and ::1 need no token (default true). */
  readonly openToLoopback?: boolean;
  readonly cacheMs?: number;
}

const CACHE_ENTRIES = 1024;

function loopback(address: string | undefined): boolean {
  return (
    address !== undefined && (address.startsWith('127.') || address === '::1' || address.startsWith('::ffff:127.'))
  );
}

export function tokenAuthorizer(kubeConfig: k8s.KubeConfig, options: TokenAuthorizerOptions): RequestAuthorizer {
  const authn = kubeConfig.makeApiClient(k8s.AuthenticationV1Api);
  const authz = kubeConfig.makeApiClient(k8s.AuthorizationV1Api);
  const cacheMs = options.cacheMs ?? 60_000;
  const cache = new Map<string, { verdict: Refusal | undefined; until: number }>();

  async function decide(token: string, path: string): Promise<Refusal | undefined> {
    const review = await authn.createTokenReview({ body: { spec: { token } } });
    const user = review.status?.user;
    if (!review.status?.authenticated || !user) return { status: 401, message: 'the bearer token is not valid' };
    const access = await authz.createSubjectAccessReview({
      body: {
        spec: {
          user: user.username,
          uid: user.uid,
          groups: user.groups,
          extra: user.extra,
          nonResourceAttributes: { path, verb: 'get' },
        },
      },
    });
    if (access.status?.allowed) return undefined;
    return { status: 403, message: `${user.username} may not get ${path} (RBAC nonResourceURLs)` };
  }

  return {
    async check(req, path) {
      if ((options.openToLoopback ?? true) && loopback(req.socket.remoteAddress)) return undefined;
      const header = req.headers.authorization ?? '';
      const token = /^Bearer (\S+)$/i.exec(header)?.[1];
      if (!token) return { status: 401, message: `${path} needs a bearer token (a ServiceAccount allowed to get it)` };
      const key = `${path}\n${token}`;
      const now = Date.now();
      const hit = cache.get(key);
      if (hit && hit.until > now) return hit.verdict;
      try {
        const verdict = await decide(token, path);
        if (cache.size >= CACHE_ENTRIES) cache.clear();
        cache.set(key, { verdict, until: now + cacheMs });
        return verdict;
      } catch (err) {
        // The API server cannot say: refuse, without caching (the next scrape asks again).
        options.logger.warn({ err, path }, 'could not review a request to the status server');
        return { status: 401, message: 'the API server could not review the token; try again' };
      }
    },
  };
}
