// The workloads' args and env are what the programs accept: each container's args (after the program name) and
// environment parse with that program's option table, and every environment variable a manifest sets is one
// the program reads (a misspelt or stale variable would be ignored silently).
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { AGENT_OPTIONS } from '../../../src/agent/options.ts';
import { ALLOCATOR_OPTIONS } from '../../../src/allocator/options.ts';
import { SPEAKER_OPTIONS } from '../../../src/speaker/options.ts';
import { parseConfig, type OptionSpec } from '../../../src/shared/config.ts';

const root = join(import.meta.dirname, '../../..');
const TABLES: Record<string, Record<string, OptionSpec>> = {
  allocator: ALLOCATOR_OPTIONS,
  agent: AGENT_OPTIONS,
  speaker: SPEAKER_OPTIONS,
};

interface Container {
  args: string[];
  env?: Array<{
    name: string;
    value?: string;
    valueFrom?: { fieldRef?: { fieldPath: string }; secretKeyRef?: { key: string } };
  }>;
}

const workloads = ['deploy/kube-lb-cluster', 'deploy/lb-consumer-cluster'].flatMap((dir) =>
  readdirSync(join(root, dir))
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((f) =>
      parseAllDocuments(readFileSync(join(root, dir, f), 'utf8')).map(
        (d) =>
          d.toJS() as {
            kind?: string;
            metadata?: { name: string };
            spec?: { template: { spec: { containers: Container[] } } };
          } | null,
      ),
    )
    .filter((o) => o?.kind === 'Deployment' || o?.kind === 'DaemonSet'),
);

t.test("every workload's args and env parse with its program's options", async (t) => {
  t.equal(workloads.length, 3);
  for (const w of workloads) {
    const c = w!.spec!.template.spec.containers[0]!;
    const [program, ...args] = c.args;
    const table = TABLES[program!]!;
    t.ok(table, `${w!.metadata!.name}: program ${program}`);
    const known = new Set(Object.values(table).flatMap((s) => (s.env ? [s.env] : [])));
    // Values the kubelet would fill in: plausible stand-ins that pass the options' checks.
    const env = Object.fromEntries(
      (c.env ?? []).map((e) => [e.name, e.value ?? (e.valueFrom?.fieldRef ? 'lb-1' : 'tenant-a')]),
    );
    for (const name of Object.keys(env))
      t.ok(known.has(name), `${w!.metadata!.name}: ${name} is read by the ${program}`);
    t.doesNotThrow(() => parseConfig(table, args, env), `${w!.metadata!.name}: ${args.join(' ')}`);
  }
});
