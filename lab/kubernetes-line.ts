// Which Kubernetes line a consumer cluster runs in this test process. The suite's own line by default; the
// compatibility matrix (npm run test:compat) sets KUBE_LB_CONSUMER_K8S to one of test/compat/lines.json's lines,
// and every consumer cluster a test starts (its kube-apiserver, kube-controller-manager and the consumer nodes'
// kube-proxy) then runs that line's binaries, built from its own Go module and cached like the suite's own.
// An unknown line fails the test: it never falls back to another line.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

export interface KubernetesLine {
  /** vMAJOR.MINOR, as lines.json and KUBE_LB_CONSUMER_K8S name it. */
  readonly line: string;
  /** The exact release built. */
  readonly version: string;
  /** The Go module that builds it (relative to the repository). */
  readonly module: string;
  readonly minor: number;
}

const matrix = JSON.parse(readFileSync(join(repoRoot, 'test/compat/lines.json'), 'utf8')) as {
  lbMinimum: string;
  stories: string[];
  lines: Omit<KubernetesLine, 'minor'>[];
};

export const KUBERNETES_LINES: readonly KubernetesLine[] = matrix.lines.map((l) => ({
  ...l,
  minor: Number(l.line.split('.')[1]),
}));

/** The suite's own line: the newest in lines.json (the LB cluster always runs it). */
export const SUITE_LINE: KubernetesLine = KUBERNETES_LINES.reduce((a, b) => (b.minor > a.minor ? b : a));

/** The line `wanted` names ("v1.24", "1.24" or "v1.24.17"); `what` says where the name came from, for the error. */
export function lineNamed(wanted: string, what: string): KubernetesLine {
  const line = KUBERNETES_LINES.find((l) => l.line === wanted || l.line === `v${wanted}` || l.version === wanted);
  if (!line)
    throw new Error(
      `${what} ${wanted} is not a line of test/compat/lines.json (${KUBERNETES_LINES.map((l) => l.line).join(', ')})`,
    );
  return line;
}

/** The oldest line the LB cluster supports (CEL's IP and CIDR functions in kube-lb's CRDs need 1.31). */
export const LB_MINIMUM: KubernetesLine = lineNamed(matrix.lbMinimum, 'lbMinimum');

/** The consumer line this process tests (KUBE_LB_CONSUMER_K8S, else the suite's own). */
export function consumerLine(): KubernetesLine {
  const wanted = process.env.KUBE_LB_CONSUMER_K8S;
  return wanted ? lineNamed(wanted, 'KUBE_LB_CONSUMER_K8S') : SUITE_LINE;
}

/** The LB cluster's line in this process (KUBE_LB_LB_K8S, else the suite's own). */
export function lbLine(): KubernetesLine {
  const wanted = process.env.KUBE_LB_LB_K8S;
  return wanted ? lineNamed(wanted, 'KUBE_LB_LB_K8S') : SUITE_LINE;
}

/** The directory of a line's binaries; builds them on first use (scripts/setup/controlplane.sh MODULE_DIR). */
export function lineBinDir(line: KubernetesLine): string {
  // with-toolchain.sh resolves the suite's own line once per run.
  const fromEnv = process.env.KUBE_LB_CONTROLPLANE_BIN;
  if (line === SUITE_LINE && fromEnv && existsSync(join(fromEnv, 'kube-apiserver'))) return fromEnv;
  return execFileSync('bash', [join(repoRoot, 'scripts/setup/controlplane.sh'), join(repoRoot, line.module)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
}

/** Whether the line keeps ingress ipMode with its default feature gates (beta and on from 1.30). */
export const keepsIpMode = (line: KubernetesLine): boolean => line.minor >= 30;

/** The oldest consumer line: `npm test` runs its stories (test/compat/oldest), the newest runs everywhere else. */
export const OLDEST_LINE: KubernetesLine = KUBERNETES_LINES.reduce((a, b) => (b.minor < a.minor ? b : a));

// For the shell scripts (bootstrap.sh, test.sh), so "which lines" is decided here only:
//   node lab/kubernetes-line.ts modules [--all]   the modules to build: the oldest line's, or every line's
//   node lab/kubernetes-line.ts lines | stories | lb-minimum
if (import.meta.main) {
  const [what, flag] = process.argv.slice(2);
  const out: Record<string, () => string[]> = {
    modules: () => (flag === '--all' ? KUBERNETES_LINES : [OLDEST_LINE]).map((l) => l.module),
    lines: () => KUBERNETES_LINES.map((l) => l.line),
    stories: () => matrix.stories,
    'lb-minimum': () => [LB_MINIMUM.line],
  };
  const answer = out[what ?? ''];
  if (!answer) throw new Error(`usage: kubernetes-line.ts ${Object.keys(out).join('|')}`);
  console.log(answer().join('\n'));
}
