// The CRDs of src/api/v1alpha1-crds.ts, the one source of the API's shapes: deploy/crds and the Helm chart's crds/
// are what scripts/gen-crds.ts renders (test/unit/deploy/manifests.test.ts checks the install bundle and
// test/unit/docs/docs.test.ts docs/crds.md), every list and string under a CEL rule is bounded, and the types
// derived from the schemas keep required fields required, optional ones optional and enums literal (checked by
// the compiler: test/unit/typecheck.test.ts).
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HELM_CRD_DIR, renderCRDs } from '../../../src/api/render-crds.ts';
import { customResourceDefinitions, type Schema } from '../../../src/api/v1alpha1-crds.ts';
import type { ClaimApproval, ClaimPort, VIPPool, VIPPoolSpec } from '../../../src/api/v1alpha1.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');

t.test(
  "deploy/crds and the Helm chart's crds/ are what scripts/gen-crds.ts renders (run it after editing src/api/v1alpha1-crds.ts)",
  async (t) => {
    const rendered = renderCRDs();
    for (const dir of ['deploy/crds', HELM_CRD_DIR]) {
      t.same(
        readdirSync(join(root, dir)).sort(),
        rendered.map((r) => r.file).sort(),
        `${dir} holds exactly the rendered files`,
      );
      for (const { file, text } of rendered)
        t.equal(readFileSync(join(root, dir, file), 'utf8'), text, `${dir}/${file}`);
    }
  },
);

t.test('the derived types follow the schemas', async (t) => {
  // Compile-time checks; the values only make them part of a test.
  const spec: VIPPoolSpec = { addresses: ['192.0.2.0/24'] };
  // @ts-expect-error addresses is required
  const noAddresses: VIPPoolSpec = {};
  // @ts-expect-error an enum is a union of its literals
  const icmp: ClaimPort = { protocol: 'ICMP', port: 1, nodePort: 30000 };
  // @ts-expect-error a field the schema does not have
  const extra: VIPPoolSpec = { addresses: [], unknown: true };
  const pool: VIPPool = { kind: 'VIPPool', metadata: { name: 'p' }, spec };
  // @ts-expect-error kind is the kind's own name
  const wrongKind: VIPPool = { kind: 'VIPClaim', metadata: {}, spec };
  const reservation: ClaimApproval = { generation: 1, vip: '192.0.2.1', externalTrafficPolicy: 'Cluster' };
  t.ok([spec, noAddresses, icmp, extra, pool, wrongKind, reservation].every(Boolean));
});

t.test('every list and string under a CEL rule is bounded', async (t) => {
  // The apiserver refuses rules whose estimated cost is unbounded; this finds the cause before it does.
  const unbounded: string[] = [];
  const walk = (s: Schema, path: string, underRule: boolean): void => {
    const ruled = underRule || (s['x-kubernetes-validations']?.length ?? 0) > 0;
    if (ruled && s.type === 'array' && s.maxItems === undefined) unbounded.push(`${path} (maxItems)`);
    if (ruled && s.type === 'string' && s.maxLength === undefined && !s.enum) unbounded.push(`${path} (maxLength)`);
    for (const [name, sub] of Object.entries(s.properties ?? {})) walk(sub, `${path}.${name}`, ruled);
    if (s.items) walk(s.items, `${path}[]`, ruled);
  };
  for (const crd of customResourceDefinitions()) {
    const props = crd.spec.versions[0]!.schema.openAPIV3Schema.properties!;
    walk(props.spec!, `${crd.spec.names.kind}.spec`, false);
  }
  t.same(unbounded, []);
});
