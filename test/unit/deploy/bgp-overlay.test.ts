// deploy/kube-lb-cluster-bgp patches the speaker DaemonSet; a strategic merge replaces a container's args whole, so
// the patch repeats the base's. This keeps the copy honest: the base's args, then the BGP flags, every one a flag the
// speaker knows; the frr container runs the guard the image ships, sharing /var/run/frr with the speaker.
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { SPEAKER_OPTIONS } from '../../../src/speaker/options.ts';

const root = join(import.meta.dirname, '../../..');
interface Container {
  name: string;
  args?: string[];
  command?: string[];
  volumeMounts?: { name: string; mountPath: string }[];
}
type DaemonSet = { kind: string; spec: { template: { spec: { containers: Container[] } } } };

const base = parseAllDocuments(readFileSync(join(root, 'deploy/kube-lb-cluster/30-speaker.yaml'), 'utf8'))
  .map((d) => d.toJS() as DaemonSet)
  .find((d) => d?.kind === 'DaemonSet')!;
const patch = parse(readFileSync(join(root, 'deploy/kube-lb-cluster-bgp/speaker-frr.yaml'), 'utf8')) as DaemonSet;
const container = (d: DaemonSet, name: string): Container | undefined =>
  d.spec.template.spec.containers.find((c) => c.name === name);

t.test("the speaker's args are the base's plus the BGP flags, all known to the speaker", async (t) => {
  const baseArgs = container(base, 'speaker')!.args!;
  const args = container(patch, 'speaker')!.args!;
  t.same(args.slice(0, baseArgs.length), baseArgs, 'the base args, unchanged and in order');
  const extra = args.slice(baseArgs.length);
  t.ok(extra.includes('--bgp'));
  for (const a of extra) {
    const name = /^--([a-z-]+)/.exec(a)?.[1] ?? '';
    t.ok(Object.hasOwn(SPEAKER_OPTIONS, name), `${a} is a speaker flag`);
  }
});

t.test('the frr container runs the guard the image ships and shares /var/run/frr with the speaker', async (t) => {
  const frr = container(patch, 'frr')!;
  t.same(frr.command, ['/usr/local/bin/kube-lb-frr-guard']);
  t.ok(
    readFileSync(join(root, 'Dockerfile'), 'utf8').includes('deploy/frr/frr-guard.sh /usr/local/bin/kube-lb-frr-guard'),
  );
  t.ok(existsSync(join(root, 'deploy/frr/frr-guard.sh')));
  const mount = (c: Container): string | undefined => c.volumeMounts?.find((m) => m.name === 'frr-run')?.mountPath;
  t.equal(mount(frr), '/var/run/frr');
  t.equal(mount(container(patch, 'speaker')!), '/var/run/frr');
  t.ok(frr.args?.includes('--alive-fifo=/var/run/frr/kube-lb-alive'), "the FIFO at the speaker's default path");
  t.equal(SPEAKER_OPTIONS['bgp-alive-fifo'].default, '/var/run/frr/kube-lb-alive');
});
