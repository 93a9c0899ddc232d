// A test-only stand-in for the allocator, for agent tests that ask for it (startAgentEnv's allocator option or
// KUBE_LB_TEST_ALLOCATOR=stand-in), never in place of a missing real one: it gives each VIPClaim the first free
// address of a fixed list (honouring requestedIPs), marks it Allocated, refuses with PoolExhausted when none is
// left, and frees the address when the claim goes. Nothing else: no pools, quotas, sharing or webhook. It is
// deliberately dumb; the real allocator is tested by its own suite.
import type * as k8s from '@kubernetes/client-node';
import type { VIPClaim } from '../../src/api/v1alpha1.ts';
import { approvalDigest, approvalOf } from '../../src/core/allocation/approval.ts';
import { resourceClient } from '../../src/kube/custom-objects.ts';
import { createInformer } from '../../src/kube/informer.ts';
import { WorkQueue, done, retry } from '../../src/kube/workqueue.ts';
import type { Logger } from '../../src/shared/logger.ts';

export interface StandInAllocator {
  stop(): Promise<void>;
  /** Addresses currently held, by claim "namespace/name". */
  held(): Map<string, string>;
}

export async function startStandInAllocator(
  kc: k8s.KubeConfig,
  addresses: readonly string[],
  logger: Logger,
): Promise<StandInAllocator> {
  const claims = resourceClient<VIPClaim>(kc, 'VIPClaim');
  const byClaim = new Map<string, string>();
  const informer = createInformer<VIPClaim & k8s.KubernetesObject>({
    kubeConfig: kc,
    path: claims.path(),
    list: () => claims.list() as Promise<k8s.KubernetesListObject<VIPClaim & k8s.KubernetesObject>>,
    logger,
  });
  const queue = new WorkQueue(async (key) => {
    const [namespace, name] = key.split('/') as [string, string];
    const claim = informer.get(name, namespace);
    if (!claim) {
      byClaim.delete(key);
      return done;
    }
    const used = new Set([...byClaim.entries()].filter(([k]) => k !== key).map(([, ip]) => ip));
    const mine = byClaim.get(key) ?? claim.status?.vip;
    const wanted = claim.spec.requestedIPs ?? [];
    const vip =
      mine && !used.has(mine) && (wanted.length === 0 || wanted.includes(mine))
        ? mine
        : wanted.length > 0
          ? wanted.find((ip) => !used.has(ip) && addresses.includes(ip))
          : addresses.find((ip) => !used.has(ip));
    if (vip) byClaim.set(key, vip);
    else byClaim.delete(key);
    const condition = vip
      ? { type: 'Allocated', status: 'True' as const, reason: 'Allocated', message: `stand-in pool` }
      : {
          type: 'Allocated',
          status: 'False' as const,
          reason: wanted.length ? 'RequestedIPUnavailable' : 'PoolExhausted',
          message: 'no free address in the stand-in pool',
        };
    const have = claim.status?.conditions?.find((c) => c.type === 'Allocated');
    // The speakers serve only what the allocator approved (status.approved): the stand-in approves every spec.
    const approvalCurrent =
      approvalDigest(claim.status?.approved) === approvalDigest(vip ? approvalOf(claim, vip, true) : undefined);
    if (
      claim.status?.vip === vip &&
      approvalCurrent &&
      have?.status === condition.status &&
      have.reason === condition.reason
    )
      return done;
    try {
      await claims.updateStatus(name, namespace, (cur) => ({
        ...cur,
        status: {
          ...cur.status,
          ...(vip
            ? { vip, pool: 'stand-in', approved: approvalOf(cur, vip, true) }
            : { vip: undefined, pool: undefined, approved: undefined }),
          conditions: [{ ...condition, lastTransitionTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z') }],
          observedGeneration: cur.metadata.generation,
        },
      }));
    } catch (err) {
      if ((err as { code?: number }).code === 404) return done;
      return retry(String(err));
    }
    return done;
  });
  const enqueue = (c: VIPClaim): void => queue.add(`${c.metadata.namespace}/${c.metadata.name}`);
  informer.on({ onUpsert: enqueue, onDelete: enqueue });
  await informer.start();
  await informer.synced;
  for (const c of informer.list()) enqueue(c);
  return {
    held: () => new Map(byClaim),
    async stop() {
      queue.stop();
      await informer.stop();
    },
  };
}
