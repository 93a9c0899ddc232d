// The configuration directory read as cilium-agent --config-dir reads it, in the layout Kubernetes gives a
// mounted ConfigMap: each key a symlink through ..data into a timestamped directory, which are skipped.
import t from 'tap';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCiliumConfigDir } from '../../../src/speaker/cilium-config-dir.ts';

t.test('a mounted ConfigMap: keys through ..data, values trimmed, directories skipped', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kube-lb-cilium-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const stamp = join(dir, '..2026_01_01_00_00_00.000000001');
  mkdirSync(stamp);
  writeFileSync(join(stamp, 'bpf-lb-algorithm'), 'maglev\n');
  writeFileSync(join(stamp, 'kube-proxy-replacement'), ' true ');
  symlinkSync('..2026_01_01_00_00_00.000000001', join(dir, '..data'));
  symlinkSync('..data/bpf-lb-algorithm', join(dir, 'bpf-lb-algorithm'));
  symlinkSync('..data/kube-proxy-replacement', join(dir, 'kube-proxy-replacement'));
  symlinkSync('..data/gone', join(dir, 'dangling'));
  t.same(readCiliumConfigDir(dir), { 'bpf-lb-algorithm': 'maglev', 'kube-proxy-replacement': 'true' });
});

t.test('a missing directory is an error that says what to mount', async (t) => {
  t.throws(() => readCiliumConfigDir('/nonexistent/cilium'), {
    code: 'CILIUM_CONFIG_DIR',
    message: /cilium-config ConfigMap/,
  });
});
