// `kube-lb speaker state [--url URL | --socket PATH] [-o json]`: what one speaker holds and decided, read from
// its /state endpoint: live LB nodes, the VIPs it answers ARP for, every claim with its frontends and which
// backends get new flows (and why not), the health of every probed target, and its API writes.
//   on an LB node:      kubectl exec ds/kube-lb-speaker -- kube-lb speaker state      (default URL)
//   in the test setup:  kube-lb speaker state --socket /tmp/klb-…/speaker-lb-1.sock    (any network namespace)
import { request } from 'node:http';
import { describeOptions, type OptionSpec } from '../shared/config.ts';
import { EXIT, parseCommand, type CliIO } from './command-args.ts';

const OPTIONS = {
  url: { kind: 'string', default: 'http://127.0.0.1:9474/state', help: "the speaker's /state URL (its --metrics-bind-address)" },
  socket: { kind: 'string', help: "the speaker's --state-socket (overrides --url)" },
  output: { kind: 'string', default: 'text', oneOf: ['text', 'json'], help: 'output format (-o json)' },
  timeout: { kind: 'duration', default: 5000, min: 100, help: 'how long to wait for the answer' },
} as const satisfies Record<string, OptionSpec>;

const USAGE = `usage: kube-lb speaker state [--url URL | --socket PATH] [-o json]\n${describeOptions(OPTIONS)}\n`;

/** The part of the speaker's /state this command prints (src/speaker/controller.ts snapshot, src/speaker/main.ts). */
export interface SpeakerStateView {
  node: string;
  version?: string;
  live: string[];
  announcedVIPs: string[];
  claims: {
    claim: string;
    vip?: string;
    served: boolean;
    reason?: string;
    message?: string;
    programmed?: boolean;
    problem?: string;
    ports?: {
      frontend: string;
      nodePort: number;
      selection: string;
      backends: { node: string; address: string; ready: boolean; health: string; selected: boolean }[];
    }[];
  }[];
  health: { key: string; state: string; lastFailure?: { failure: string; detail: string } }[];
  apiWrites?: { claimStatus: number; nodeState: number };
  dataplane?: { cilium?: string; passes?: number; repairedEntries?: number };
}

function fetchState(config: { url: string; socket: string | undefined; timeout: number }): Promise<string> {
  return new Promise((resolve, reject) => {
    const target = config.socket ? { socketPath: config.socket, path: '/state' } : new URL(config.url);
    const req = request({ ...(target instanceof URL ? { host: target.hostname, port: target.port, path: target.pathname } : target), timeout: config.timeout }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`HTTP ${res.statusCode}: ${text.trim()}`))));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${config.timeout} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** Human-readable form of a speaker's state. */
export function formatSpeakerState(s: SpeakerStateView): string {
  const lines = [
    `speaker ${s.node}${s.version ? ` (${s.version})` : ''}; live LB nodes: ${s.live.join(', ') || 'none'}`,
    `answers ARP for: ${s.announcedVIPs.join(', ') || 'nothing'}`,
  ];
  if (s.dataplane) lines.push(`dataplane: Cilium ${s.dataplane.cilium ?? '?'} layout, ${s.dataplane.passes ?? 0} passes, ${s.dataplane.repairedEntries ?? 0} entries repaired`);
  if (s.apiWrites) lines.push(`API writes: ${s.apiWrites.claimStatus} claim status, ${s.apiWrites.nodeState} node state`);
  lines.push('', 'CLAIMS');
  for (const c of s.claims) {
    if (!c.served) {
      lines.push(`  ${c.claim}  ${c.vip ?? '-'}  not served: ${c.reason}: ${c.message}`);
      continue;
    }
    lines.push(`  ${c.claim}  ${c.vip}  ${c.programmed ? 'programmed' : `not programmed${c.problem ? `: ${c.problem}` : ''}`}`);
    for (const p of c.ports ?? []) {
      lines.push(`    ${p.frontend} → NodePort ${p.nodePort}  (${p.selection})`);
      for (const b of p.backends) {
        const why = b.selected ? 'new flows' : !b.ready ? 'not ready: drain only' : 'out: failing health checks';
        lines.push(`      ${b.node.padEnd(16)} ${b.address.padEnd(15)} ${b.health.padEnd(9)} ${why}`);
      }
    }
  }
  lines.push('', 'HEALTH CHECKS');
  for (const h of s.health) {
    lines.push(`  ${h.key.padEnd(36)} ${h.state}${h.lastFailure ? `  last failure: ${h.lastFailure.failure} (${h.lastFailure.detail})` : ''}`);
  }
  return `${lines.join('\n')}\n`;
}

export async function speakerCommand(argv: readonly string[], io: CliIO): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'state') {
    io.err(USAGE);
    return EXIT.usage;
  }
  let config;
  try {
    const expanded = rest.flatMap((a, i, all) => (a === '-o' ? [`--output=${all[i + 1] ?? ''}`] : all[i - 1] === '-o' ? [] : [a]));
    config = parseCommand(OPTIONS, expanded, io.env).config;
  } catch (err) {
    io.err(`${(err as Error).message}\n${USAGE}`);
    return EXIT.usage;
  }
  let text: string;
  try {
    text = await fetchState(config);
  } catch (err) {
    io.err(`kube-lb speaker state: ${config.socket ?? config.url}: ${(err as Error).message}\n`);
    return EXIT.failed;
  }
  if (config.output === 'json') io.out(text.endsWith('\n') ? text : `${text}\n`);
  else io.out(formatSpeakerState(JSON.parse(text) as SpeakerStateView));
  return EXIT.ok;
}
