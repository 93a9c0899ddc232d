// `kube-lb speaker state [--url URL | --socket PATH] [-o FORMAT]`: what one speaker holds and decided, read from
// its /state endpoint: live LB nodes, the VIPs it answers ARP for, every claim with its frontends and which
// backends get new flows (and why not), the health of every probed target, and its API writes.
//   on an LB node:      kubectl exec ds/kube-lb-speaker -- kube-lb speaker state      (default URL)
//   in the test setup:  kube-lb speaker state --socket /tmp/klb-…/speaker-lb-1.sock    (any network namespace)
import { request } from 'node:http';
import { Option, type Command } from 'commander';
import { KubeLbError } from '../shared/errors.ts';
import { EXIT, duration, outputOption, type CliIO } from './command-args.ts';
import { render, type OutputFormat, type View } from './output.ts';
import type { CliContext } from './program.ts';

interface SpeakerStateFlags {
  url: string;
  socket?: string;
  timeout: number;
  output: OutputFormat;
}

export function registerSpeaker(parent: Command, ctx: CliContext): void {
  const speaker = parent.command('speaker').description('one speaker, through its status endpoint');
  speaker
    .command('state')
    .description("one speaker's claims, backend selection and health checks, from its /state")
    .option('--url <url>', "the speaker's /state URL (its --metrics-bind-address)", 'http://127.0.0.1:9474/state')
    .option('--socket <path>', "the speaker's --state-socket (overrides --url)")
    .addOption(
      new Option('--timeout <duration>', 'how long to wait for the answer')
        .argParser(duration(100))
        .default(5000, '5s'),
    )
    .addOption(outputOption())
    .action(async (flags: SpeakerStateFlags) => ctx.finish(await speakerState(flags, ctx.io)));
}

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

function fetchState(config: Pick<SpeakerStateFlags, 'url' | 'socket' | 'timeout'>): Promise<string> {
  return new Promise((resolve, reject) => {
    const target = config.socket ? { socketPath: config.socket, path: '/state' } : new URL(config.url);
    const req = request(
      {
        ...(target instanceof URL ? { host: target.hostname, port: target.port, path: target.pathname } : target),
        timeout: config.timeout,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () =>
          res.statusCode === 200
            ? resolve(text)
            : reject(new KubeLbError('CLI_SPEAKER_STATE', `HTTP ${res.statusCode}: ${text.trim()}`)),
        );
      },
    );
    req.on('timeout', () =>
      req.destroy(new KubeLbError('CLI_SPEAKER_STATE', `no answer within ${config.timeout} ms`, { transient: true })),
    );
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
  if (s.dataplane)
    lines.push(
      `dataplane: Cilium ${s.dataplane.cilium ?? '?'} layout, ${s.dataplane.passes ?? 0} passes, ${s.dataplane.repairedEntries ?? 0} entries repaired`,
    );
  if (s.apiWrites)
    lines.push(`API writes: ${s.apiWrites.claimStatus} claim status, ${s.apiWrites.nodeState} node state`);
  lines.push('', 'CLAIMS');
  for (const c of s.claims) {
    if (!c.served) {
      lines.push(`  ${c.claim}  ${c.vip ?? '-'}  not served: ${c.reason}: ${c.message}`);
      continue;
    }
    lines.push(
      `  ${c.claim}  ${c.vip}  ${c.programmed ? 'programmed' : `not programmed${c.problem ? `: ${c.problem}` : ''}`}`,
    );
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
    lines.push(
      `  ${h.key.padEnd(36)} ${h.state}${h.lastFailure ? `  last failure: ${h.lastFailure.failure} (${h.lastFailure.detail})` : ''}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

async function speakerState(flags: SpeakerStateFlags, io: CliIO): Promise<number> {
  let text: string;
  try {
    text = await fetchState(flags);
  } catch (err) {
    throw new KubeLbError('CLI_SPEAKER_STATE', `${flags.socket ?? flags.url}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  io.out(render(flags.output, speakerStateView(JSON.parse(text) as SpeakerStateView)));
  return EXIT.ok;
}

/** json/yaml: the speaker's /state as it answered; name: the claims it knows, as kubectl names them. */
export function speakerStateView(state: SpeakerStateView): View {
  return {
    data: state,
    // kubectl prints NAME without the namespace (claim keys are NAMESPACE/NAME).
    names: state.claims.map((c) => `vipclaim.kube-lb.io/${c.claim.slice(c.claim.indexOf('/') + 1)}`),
    human: () => [{ text: formatSpeakerState(state) }],
  };
}
