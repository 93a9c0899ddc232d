// Fault injection: writes fail at random (a failing batch applies a random prefix first, as the kernel can).
// After every single write the maps must be consistent for the datapath, and once faults stop the maps must
// converge to what a fault-free run produces, ending empty when nothing is desired.
import t from 'tap';
import { canonicalDump } from '../../../src/core/dataplane/canonical.ts';
import type { DesiredBackend, DesiredFrontend } from '../../../src/core/dataplane/frontend.ts';
import { PROFILES } from '../../../src/core/lb4/profile.ts';
import type { PackedEntries } from '../../../src/core/bpf/packed.ts';
import { createLogger } from '../../../src/shared/logger.ts';
import { createFakeLb4Maps, type FakeLb4Maps } from '../../../src/speaker/dataplane/fake-maps.ts';
import { faultyLb4Maps, seededRandom } from '../../../src/speaker/dataplane/faulty-maps.ts';
import { readSnapshot, type ByteMap, type Lb4Maps } from '../../../src/speaker/dataplane/maps.ts';
import { DataplaneReconciler } from '../../../src/speaker/dataplane/reconciler.ts';
import { lb4Violations } from '../../support/lb4-invariants.ts';
import { goldenCiliumEntries, goldenCiliumIds } from '../../support/cilium-golden.ts';

const logger = createLogger({ program: 'test', level: 'silent' });
const profile = PROFILES['1.18'];
/** What a real Cilium 1.18 agent wrote (test/fixtures/cilium): foreign entries that must survive every fault. */
const CILIUM = goldenCiliumEntries('1.18');
const CILIUM_IDS = goldenCiliumIds('1.18');

function tables(maps: FakeLb4Maps): Map<number, Uint8Array> | undefined {
  return maps.maglev ? new Map([...maps.maglev.tables].map(([id, tb]) => [id, tb.bytes])) : undefined;
}

/** Wraps maps so `check` runs after every write that reaches them. */
function observed(inner: FakeLb4Maps, check: () => void): Lb4Maps {
  const wrap = (m: ByteMap | undefined): ByteMap | undefined =>
    m && {
      name: m.name,
      keySize: m.keySize,
      valueSize: m.valueSize,
      dump: () => m.dump(),
      upsert: (e: PackedEntries) => {
        m.upsert(e);
        check();
      },
      remove: (k: PackedEntries) => {
        m.remove(k);
        check();
      },
    };
  return {
    services: wrap(inner.services)!,
    backends: wrap(inner.backends)!,
    revNat: wrap(inner.revNat)!,
    idTable: wrap(inner.idTable)!,
    backendIdTable: wrap(inner.backendIdTable)!,
    sourceRange: wrap(inner.sourceRange),
    affinityMatch: wrap(inner.affinityMatch),
    maglev: inner.maglev && {
      name: inner.maglev.name,
      tableSize: inner.maglev.tableSize,
      read: () => inner.maglev!.read(),
      set: (id: number, bytes: Uint8Array, digest: string) => {
        inner.maglev!.set(id, bytes, digest);
        check();
      },
      remove: (ids: readonly number[]) => {
        inner.maglev!.remove(ids);
        check();
      },
    },
    close: () => {},
  };
}

function randomDesired(random: () => number): DesiredFrontend[] {
  const out: DesiredFrontend[] = [];
  for (let f = 0; f < 6; f++) {
    if (random() < 0.3) continue;
    const backends: DesiredBackend[] = [];
    for (let b = 0; b < 6; b++) {
      if (random() < 0.5) continue;
      const r = random();
      backends.push({
        address: `10.1.0.${b + 1}`,
        port: 30000 + f,
        state: r < 0.8 ? 'active' : r < 0.9 ? 'terminating' : 'maintenance',
      });
    }
    out.push({
      vip: `10.0.0.${1 + (f % 3)}`,
      port: 80 + f,
      protocol: f % 2 ? 'UDP' : 'TCP',
      backends,
      ...(random() < 0.3 ? { sessionAffinity: { timeoutSeconds: 1 + Math.floor(random() * 100) } } : {}),
      ...(random() < 0.3 ? { sourceRanges: ['192.168.0.0/16', `10.${f}.0.0/16`] } : {}),
    });
  }
  return out;
}

/** IDs differ between runs with different failure histories; structure must not. */
const withoutIds = (lines: string[]): string[] =>
  lines.map((l) => l.replace(/\b(429496\d{4}|6[45]\d{3})\b/g, 'ID').replace(/mag ID => .*/, 'mag ID => table')).sort();

for (const maglev of [false, true]) {
  t.test(`random desired states under 30% write failures (${maglev ? 'maglev' : 'random'} mode)`, async (t) => {
    const random = seededRandom(maglev ? 7 : 3);
    const fake = createFakeLb4Maps(maglev ? { maglevTableSize: 251 } : {});
    for (const e of CILIUM) fake[e.map].set(e.key, e.value);
    const foreign = canonicalDump(readSnapshot(fake), profile);
    const violations: string[] = [];
    let writes = 0;
    const check = (): void => {
      writes++;
      violations.push(...lb4Violations(readSnapshot(fake), tables(fake), (id) => !CILIUM_IDS.revNats.has(id)));
    };
    const faulty = faultyLb4Maps(observed(fake, check), 0.3, maglev ? 11 : 5);
    const reconciler = new DataplaneReconciler({ maps: faulty, profile, logger });
    let failures = 0;
    for (let step = 0; step < 25; step++) {
      const desired = step === 24 ? [] : randomDesired(random);
      reconciler.setDesired(desired);
      let pass = reconciler.reconcileOnce();
      for (let tries = 0; pass.error && tries < 100; tries++) {
        failures++;
        pass = reconciler.reconcileOnce();
      }
      t.equal(pass.error, undefined, `step ${step} converged`);
      const clean = createFakeLb4Maps(maglev ? { maglevTableSize: 251 } : {});
      for (const e of CILIUM) clean[e.map].set(e.key, e.value);
      const reference = new DataplaneReconciler({ maps: clean, profile, logger });
      reference.setDesired(desired);
      reference.reconcileOnce();
      const got = withoutIds(canonicalDump(readSnapshot(fake), profile, tables(fake))).filter(
        (l) => !foreign.includes(l),
      );
      const want = withoutIds(canonicalDump(readSnapshot(clean), profile, tables(clean))).filter(
        (l) => !foreign.includes(l),
      );
      t.same(got, want, `step ${step}: same maps as a fault-free run`);
      const again = reconciler.reconcileOnce();
      t.same([again.absent, again.changed, again.deleted], [0, 0, 0], `step ${step}: stable`);
    }
    t.ok(failures > 20, `${failures} failed passes were injected`);
    t.same(violations.slice(0, 5), [], `no dangling reference after any of ${writes} writes`);
    t.same(canonicalDump(readSnapshot(fake), profile), foreign, "only Cilium's entries are left at the end");
  });
}
