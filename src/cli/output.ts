// The one printer behind every command's `-o table|wide|json|yaml|name`. A command builds a View (its data, the
// names of what it shows, and its human form) and never formats JSON, YAML or names itself, so the five formats
// mean the same thing everywhere:
//   table  the human form (kubectl's columns where the data is tabular)
//   wide   the human form with the extra columns a command has (the same as table where it has none)
//   json   the data, two-space indented, one trailing newline
//   yaml   the same data as YAML
//   name   one KIND/NAME per line, as `kubectl get -o name` prints
import { stringify } from 'yaml';

export const OUTPUT_FORMATS = ['table', 'wide', 'json', 'yaml', 'name'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** Columns in kubectl's look: headers upper-case, cells left-aligned two spaces apart. */
export interface TableBlock {
  readonly headers: readonly string[];
  readonly rows: ReadonlyArray<readonly string[]>;
  /** Printed instead of the table when there are no rows ("No claims."). */
  readonly empty?: string;
}

/** Pre-formatted lines, for a human form that is not a table (doctor's findings with their hints). */
export interface TextBlock {
  readonly text: string;
}

export type Block = TableBlock | TextBlock;

export interface View {
  /** What -o json and -o yaml print. */
  readonly data: unknown;
  /** What -o name prints, one a line. */
  readonly names: readonly string[];
  /** The human form; blocks are separated by one blank line. */
  human(wide: boolean): readonly Block[];
}

export function render(format: OutputFormat, view: View): string {
  switch (format) {
    case 'json':
      return `${JSON.stringify(view.data, null, 2)}\n`;
    case 'yaml':
      // lineWidth 0: never fold long strings (tokens, certificates, messages) into several lines.
      return stringify(view.data, { lineWidth: 0 });
    case 'name':
      return view.names.map((n) => `${n}\n`).join('');
    case 'table':
    case 'wide':
      return `${view
        .human(format === 'wide')
        .map(renderBlock)
        .join('\n\n')}\n`;
    default:
      return assertNever(format);
  }
}

function renderBlock(block: Block): string {
  if ('text' in block) return block.text.replace(/\n+$/, '');
  if (block.rows.length === 0 && block.empty !== undefined) return block.empty;
  return table(block.headers, block.rows);
}

/** Left-aligned columns, two spaces apart; the last column is not padded. */
export function table(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

function assertNever(x: never): never {
  throw new TypeError(`unexpected output format ${String(x)}`);
}
