// The kubeconfig an operator's command uses, chosen and merged by kubectl's rules
// (k8s.io/client-go/tools/clientcmd loader.go):
//   --kubeconfig FILE   that one file, which must exist;
//   KUBECONFIG=A:B:C    every listed file that exists, merged: the first file to set current-context wins, and
//                       for a cluster, user or context named in several files the first file's entry wins;
//   neither             ~/.kube/config;
//   --context NAME      replaces the current context, and must name one.
// @kubernetes/client-node's loadFromDefault splits KUBECONFIG too, but merges differently: a later file's
// current-context wins, a name defined twice throws "Duplicate cluster", and a missing file throws. So each file is
// read with its loadFromFile (which also makes certificate paths absolute against the file's folder) and the
// merge is kubectl's, here.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { ConfigError, KubeLbError } from '../shared/errors.ts';

export interface KubeconfigChoice {
  /** --kubeconfig: one file. */
  kubeconfig?: string | undefined;
  /** --context */
  context?: string | undefined;
  env: Readonly<Record<string, string | undefined>>;
  /** ~ (tests pass a folder of their own). */
  home?: string;
}

/** The files kubectl would read, in precedence order. */
export function kubeconfigFiles(choice: KubeconfigChoice): string[] {
  if (choice.kubeconfig) {
    if (!existsSync(choice.kubeconfig)) throw new ConfigError('kubeconfig', choice.kubeconfig, 'no such file');
    return [choice.kubeconfig];
  }
  const list = choice.env.KUBECONFIG;
  if (list) return list.split(delimiter).filter((f) => f !== '' && existsSync(f));
  const fallback = join(choice.home ?? homedir(), '.kube', 'config');
  return existsSync(fallback) ? [fallback] : [];
}

export function loadMergedKubeConfig(choice: KubeconfigChoice): k8s.KubeConfig {
  const files = kubeconfigFiles(choice);
  if (files.length === 0) {
    const why = choice.env.KUBECONFIG
      ? `none of the KUBECONFIG files ${choice.env.KUBECONFIG} exists`
      : 'KUBECONFIG is unset and ~/.kube/config does not exist';
    throw new KubeLbError('CLI_NO_KUBECONFIG', `no kubeconfig: ${why}; pass --kubeconfig`);
  }
  const merged = new k8s.KubeConfig();
  const seen = { clusters: new Set<string>(), users: new Set<string>(), contexts: new Set<string>() };
  let current = '';
  const clusters: k8s.Cluster[] = [];
  const users: k8s.User[] = [];
  const contexts: k8s.Context[] = [];
  for (const file of files) {
    const one = new k8s.KubeConfig();
    one.loadFromFile(file);
    if (!current && one.currentContext) current = one.currentContext;
    for (const c of one.clusters) if (firstTime(seen.clusters, c.name)) clusters.push(c);
    for (const u of one.users) if (firstTime(seen.users, u.name)) users.push(u);
    for (const c of one.contexts) if (firstTime(seen.contexts, c.name)) contexts.push(c);
  }
  merged.loadFromOptions({ clusters, users, contexts, currentContext: current });
  const context = choice.context ?? current;
  if (choice.context !== undefined && !seen.contexts.has(choice.context)) {
    throw new ConfigError('context', choice.context, `no such context in ${files.join(delimiter)}`);
  }
  merged.setCurrentContext(context);
  return merged;
}

function firstTime(seen: Set<string>, name: string): boolean {
  if (seen.has(name)) return false;
  seen.add(name);
  return true;
}
