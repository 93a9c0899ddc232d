// The deploy/ templates mark what varies per installation as __UPPER_CASE__ placeholders: valid YAML, and invalid
// Kubernetes names, so a forgotten one fails at apply time. Rendering is strict both ways: every placeholder in
// the text needs a value, and every value given must be used (a typo in a name would otherwise go unnoticed).

const PLACEHOLDER = /__([A-Z][A-Z0-9_]*?)__/g;

export type TemplateResult =
  | { ok: true; text: string }
  | { ok: false; reason: 'MissingValue' | 'UnusedValue'; names: string[] };

export function renderTemplate(text: string, values: Readonly<Record<string, string>>): TemplateResult {
  const used = new Set<string>();
  const missing = new Set<string>();
  const out = text.replace(PLACEHOLDER, (whole, name: string) => {
    const v = values[name];
    if (v === undefined) {
      missing.add(name);
      return whole;
    }
    used.add(name);
    return v;
  });
  if (missing.size > 0) return { ok: false, reason: 'MissingValue', names: [...missing].sort() };
  const unused = Object.keys(values).filter((k) => !used.has(k));
  if (unused.length > 0) return { ok: false, reason: 'UnusedValue', names: unused.sort() };
  return { ok: true, text: out };
}
