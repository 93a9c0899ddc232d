// One first programming by a process that has never planned, for `npm run bench -- maps`: opens the maps in DIR
// (creating kube-lb's ID tables, as a speaker does), then times setDesired() and the pass that writes everything,
// and prints {"ms":T,"cpu_ms":C,"entries":N}. A process of its own per sample: a first pass is the one that pays
// for V8's compiling, and one sample of it on a 2-core VM ranged over ±10%.
//   node _cold-pass.ts DIR SERVICES BACKENDS
import { benchFrontends } from './_frontends.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { openLb4Maps } from '../../src/speaker/dataplane/native-maps.ts';
import { DataplaneReconciler } from '../../src/speaker/dataplane/reconciler.ts';

const [dir, services, backends] = process.argv.slice(2);
if (!dir || !services || !backends) throw new Error('usage: _cold-pass.ts DIR SERVICES BACKENDS');
const opened = openLb4Maps({ dir, ciliumVersion: '1.18' });
const reconciler = new DataplaneReconciler({
  maps: opened.maps,
  profile: opened.profile,
  logger: createLogger({ program: 'bench', level: 'silent' }),
});
const input = benchFrontends(Number(services), Number(backends)); // the bench's input, made before the clock
const cpu0 = process.cpuUsage();
const t0 = performance.now();
reconciler.setDesired(input);
const pass = reconciler.reconcileOnce();
const ms = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
reconciler.stop();
opened.maps.close();
if (pass.error) throw pass.error;
console.log(JSON.stringify({ ms, cpu_ms: (cpu.user + cpu.system) / 1000, entries: pass.absent }));
