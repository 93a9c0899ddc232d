// Keeps src/api/v1alpha1.ts (what the programs code against) and deploy/crds/*.yaml (what the apiserver
// enforces) in step: the YAML must be what scripts/gen-crds.ts renders, and for every kind the field tree of
// `spec` and `status` (names, required/optional, scalar types, enums, list and map shapes) derived from the
// TypeScript types with the compiler API must equal the one derived from the OpenAPI schema.
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { HELM_CRD_DIR, renderCRDs } from '../../../src/api/render-crds.ts';
import { customResourceDefinitions, type Schema } from '../../../src/api/v1alpha1-crds.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const typesFile = join(root, 'src/api/v1alpha1.ts');

/** A shape both sides can be reduced to. */
type Shape =
  | { kind: 'string'; enum?: string[] }
  | { kind: 'number' }
  | { kind: 'boolean' }
  | { kind: 'array'; items: Shape }
  | { kind: 'map'; values: Shape }
  | { kind: 'object'; fields: Record<string, { required: boolean; shape: Shape }> };

function fromSchema(s: Schema): Shape {
  switch (s.type) {
    case 'string':
      return s.enum ? { kind: 'string', enum: [...s.enum].sort() } : { kind: 'string' };
    case 'integer':
    case 'number':
      return { kind: 'number' };
    case 'boolean':
      return { kind: 'boolean' };
    case 'array':
      return { kind: 'array', items: fromSchema(s.items!) };
    case 'object': {
      if (s.additionalProperties) return { kind: 'map', values: fromSchema(s.additionalProperties) };
      const fields: Record<string, { required: boolean; shape: Shape }> = {};
      for (const [name, sub] of Object.entries(s.properties ?? {})) {
        fields[name] = { required: (s.required ?? []).includes(name), shape: fromSchema(sub) };
      }
      return { kind: 'object', fields };
    }
    default:
      throw new Error(`schema without a type: ${JSON.stringify(s).slice(0, 80)}`);
  }
}

function typeShapes(): Map<string, ts.Type> & { shape(type: ts.Type): Shape } {
  const program = ts.createProgram([typesFile], { strict: true, target: ts.ScriptTarget.ES2022, noEmit: true });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(typesFile)!;
  const types = new Map<string, ts.Type>();
  ts.forEachChild(source, (node) => {
    if (ts.isInterfaceDeclaration(node) || ts.isTypeAliasDeclaration(node)) {
      types.set(node.name.text, checker.getTypeAtLocation(node.name));
    }
  });

  const shape = (type: ts.Type): Shape => {
    // Optional properties arrive as `T | undefined`.
    const parts = type.isUnion() ? type.types.filter((p) => !(p.flags & ts.TypeFlags.Undefined)) : [type];
    if (parts.length > 1 && parts.every((p) => p.isStringLiteral())) {
      return { kind: 'string', enum: parts.map((p) => (p as ts.StringLiteralType).value).sort() };
    }
    if (parts.length > 1 && parts.every((p) => p.flags & ts.TypeFlags.BooleanLiteral)) return { kind: 'boolean' };
    if (parts.length !== 1) throw new Error(`unsupported union ${checker.typeToString(type)}`);
    const only = parts[0]!;
    if (only.flags & ts.TypeFlags.String) return { kind: 'string' };
    if (only.isStringLiteral()) return { kind: 'string', enum: [only.value] };
    if (only.flags & ts.TypeFlags.Number) return { kind: 'number' };
    if (only.flags & (ts.TypeFlags.Boolean | ts.TypeFlags.BooleanLiteral)) return { kind: 'boolean' };
    if (checker.isArrayType(only)) return { kind: 'array', items: shape(checker.getTypeArguments(only as ts.TypeReference)[0]!) };
    const index = checker.getIndexInfoOfType(only, ts.IndexKind.String);
    if (index) return { kind: 'map', values: shape(index.type) };
    const fields: Record<string, { required: boolean; shape: Shape }> = {};
    for (const prop of checker.getPropertiesOfType(only)) {
      const propType = checker.getTypeOfSymbol(prop);
      fields[prop.name] = { required: !(prop.flags & ts.SymbolFlags.Optional), shape: shape(propType) };
    }
    return { kind: 'object', fields };
  };
  return Object.assign(types, { shape });
}

t.test('deploy/crds and the Helm chart\'s crds/ are what scripts/gen-crds.ts renders (run it after editing src/api/v1alpha1-crds.ts)', async (t) => {
  const rendered = renderCRDs();
  for (const dir of ['deploy/crds', HELM_CRD_DIR]) {
    t.same(readdirSync(join(root, dir)).sort(), rendered.map((r) => r.file).sort(), `${dir} holds exactly the rendered files`);
    for (const { file, text } of rendered) t.equal(readFileSync(join(root, dir, file), 'utf8'), text, `${dir}/${file}`);
  }
});

t.test('every CRD schema has the fields of its TypeScript type', async (t) => {
  const types = typeShapes();
  for (const crd of customResourceDefinitions()) {
    const kind = crd.spec.names.kind;
    const schema = crd.spec.versions[0]!.schema.openAPIV3Schema;
    const tsType = types.get(kind);
    t.ok(tsType, `type ${kind} exists`);
    if (!tsType) continue;
    const tsShape = types.shape(tsType);
    const crdShape = fromSchema(schema);
    t.equal(tsShape.kind, 'object');
    t.equal(crdShape.kind, 'object');
    if (tsShape.kind !== 'object' || crdShape.kind !== 'object') continue;
    for (const part of ['spec', 'status']) {
      t.same(crdShape.fields[part], tsShape.fields[part], `${kind}.${part}: CRD schema vs v1alpha1.ts`);
    }
    t.equal(crdShape.fields['spec']?.required, true, `${kind}.spec is required`);
  }
});

t.test('the comparison notices a drift', async (t) => {
  const crd = customResourceDefinitions()[0]!;
  const spec = crd.spec.versions[0]!.schema.openAPIV3Schema.properties!['spec']!;
  const drifted: Schema = { ...spec, properties: { ...spec.properties, autoAssign: { type: 'string' } } };
  const types = typeShapes();
  const tsShape = types.shape(types.get('VIPPoolSpec')!);
  t.notSame(fromSchema(drifted), tsShape);
  t.same(fromSchema(spec), tsShape);
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
    walk(props['spec']!, `${crd.spec.names.kind}.spec`, false);
  }
  t.same(unbounded, []);
});
