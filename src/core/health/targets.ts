// What to probe for a claim's backends, the way cloud load balancers check Kubernetes nodes:
//  - externalTrafficPolicy Local: HTTP GET /healthz on the Service's healthCheckNodePort. kube-proxy answers 200
//    only on nodes with a ready local endpoint, so the node that would drop the traffic is taken out.
//  - otherwise: a TCP connect to the port's NodePort on the node (the traffic port itself).
// A UDP port cannot be checked by a TCP connect; it follows the TCP ports of the same Service on that node, and
// with no TCP port at all it is not checked (always in service).
// Targets are identified by a URL-like key so that many claims on the same nodes share one probe.
import type { ClaimPort, ProgrammedSpec } from '../../api/v1alpha1.ts';

export const HEALTHZ_PATH = '/healthz';

export type HealthTarget =
  | { readonly kind: 'http'; readonly address: string; readonly port: number; readonly path: string }
  | { readonly kind: 'tcp'; readonly address: string; readonly port: number };

/** "tcp://10.0.0.5:30080" or "http://10.0.0.5:31000/healthz". */
export function targetKey(t: HealthTarget): string {
  return t.kind === 'http' ? `http://${t.address}:${t.port}${t.path}` : `tcp://${t.address}:${t.port}`;
}

/** The inverse of targetKey, for keys read back from another node's published state. */
export function parseTargetKey(key: string): HealthTarget | undefined {
  const m = /^(tcp|http):\/\/(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})(\/\S*)?$/.exec(key);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return undefined;
  if (m[1] === 'http') return { kind: 'http', address: m[2]!, port, path: m[4] ?? HEALTHZ_PATH };
  return m[4] === undefined ? { kind: 'tcp', address: m[2]!, port } : undefined;
}

function usesHealthCheckNodePort(spec: ProgrammedSpec): spec is ProgrammedSpec & { healthCheckNodePort: number } {
  return (
    spec.externalTrafficPolicy === 'Local' && spec.healthCheckNodePort !== undefined && spec.healthCheckNodePort > 0
  );
}

/** The targets that decide whether `address` may receive new flows for `port` of this claim (empty: unchecked). */
export function targetsFor(spec: ProgrammedSpec, address: string, port: ClaimPort): HealthTarget[] {
  if (usesHealthCheckNodePort(spec))
    return [{ kind: 'http', address, port: spec.healthCheckNodePort, path: HEALTHZ_PATH }];
  if (port.protocol === 'TCP') return [{ kind: 'tcp', address, port: port.nodePort }];
  const tcp = spec.ports.filter((p) => p.protocol === 'TCP');
  return [...new Set(tcp.map((p) => p.nodePort))]
    .sort((a, b) => a - b)
    .map((nodePort) => ({ kind: 'tcp', address, port: nodePort }));
}

/** Every target any port of any backend of the claim needs, deduplicated by key. */
export function claimTargets(spec: ProgrammedSpec): Map<string, HealthTarget> {
  const out = new Map<string, HealthTarget>();
  for (const b of spec.backends) {
    for (const p of spec.ports) for (const t of targetsFor(spec, b.address, p)) out.set(targetKey(t), t);
  }
  return out;
}
