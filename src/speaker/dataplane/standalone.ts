// The dataplane reconciler on its own, driven by a JSON file of desired frontends instead of VIPClaims: for
// tests (a process that can be killed and restarted), benchmarks and debugging on an LB node. Until the
// speaker wires it to claims, this is how to run it.
//   node src/speaker/dataplane/standalone.ts --desired FILE [--map-dir DIR] [--cilium-version auto|1.x]
//                                            [--period 500ms] [--maglev-table-size N] [--log-level info]
// The file holds a JSON array of DesiredFrontend; SIGHUP re-reads it. One log line per pass that changed
// something; the first line "dataplane ready" comes after the first pass.
import { readFileSync } from 'node:fs';
import type { DesiredFrontend } from '../../core/dataplane/frontend.ts';
import { DEFAULT_MAP_DIR } from '../../core/lb4/maps.ts';
import { CILIUM_VERSION_RANGE } from '../../core/lb4/profile.ts';
import { parseConfig } from '../../shared/config.ts';
import { createLogger, LOG_LEVELS, type LogLevel } from '../../shared/logger.ts';
import { openLb4Maps, watchPinDirectory, type OpenedLb4Maps } from './native-maps.ts';
import { DataplaneReconciler, DEFAULT_RECONCILE_PERIOD_MS } from './reconciler.ts';

const OPTIONS = {
  desired: { kind: 'string', required: true, help: 'JSON file with the desired frontends' },
  'map-dir': { kind: 'string', default: DEFAULT_MAP_DIR, help: "directory of Cilium's pinned maps" },
  'cilium-version': { kind: 'string', default: 'auto', help: `Cilium version (${CILIUM_VERSION_RANGE}) or auto` },
  period: { kind: 'duration', default: DEFAULT_RECONCILE_PERIOD_MS, min: 10, help: 're-read and repair period' },
  'maglev-table-size': { kind: 'int', min: 0, default: 0, help: 'maglev table size (0: from the maps)' },
  'log-level': { kind: 'string', default: 'info', oneOf: LOG_LEVELS, help: 'log level' },
} as const;

const config = parseConfig(OPTIONS, process.argv.slice(2), process.env);
const logger = createLogger({ program: 'dataplane', level: config['log-level'] as LogLevel });
const openMaps = (ciliumVersion: string): OpenedLb4Maps =>
  openLb4Maps({
    dir: config['map-dir'],
    ciliumVersion,
    ...(config['maglev-table-size'] ? { maglevTableSize: config['maglev-table-size'] } : {}),
  });
const opened = openMaps(config['cilium-version']);
logger.info(
  {
    dir: opened.dir,
    profile: opened.profile.version,
    evidence: opened.detection.reasons,
    maglev: opened.maps.maglev?.tableSize,
  },
  'maps opened',
);
const reconciler = new DataplaneReconciler({
  maps: opened.maps,
  pins: opened.pins,
  pinEvents: watchPinDirectory(opened.dir),
  reopen: () => openMaps(opened.profile.version),
  profile: opened.profile,
  logger,
  periodMs: config.period,
});
const load = (): void => {
  reconciler.setDesired(JSON.parse(readFileSync(config.desired, 'utf8')) as DesiredFrontend[]);
};
load();
const first = reconciler.reconcileOnce();
logger.info({ ...first, error: first.error?.message, statuses: reconciler.statuses() }, 'dataplane ready');
reconciler.start();
process.on('SIGHUP', load);
const shutdown = (): void => {
  reconciler.close();
  process.exit(0);
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
