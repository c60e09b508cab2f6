import { CONNECTOR_CATALOG, type ConnectorDoc, type ConnectorKind } from '../../shared/connectors/catalog.ts';
import { parseJsonHelpArgs } from '../args.ts';
import type { Command } from '../io.ts';

export const connectorsUsage = `Usage: esync connectors [--json]

Lists every source, target, webhook signature adapter and CDC format with its required fields.
Every field, default and an example: docs/connectors.md.

Options:
  --json   print the whole catalog (fields, defaults, examples) as one JSON object
  --help   show this help`;

const KIND_LABEL: Record<ConnectorKind, string> = {
  source: 'source',
  target: 'target',
  webhook: 'webhook signature',
  cdc: 'cdc format',
};

function parseConnectorsArgs(argv: string[]) {
  return parseJsonHelpArgs(argv, {
    allowPositionals: false,
    usage: connectorsUsage,
    unknownNoun: 'unexpected argument',
  });
}

/** The field that selects the entry itself, which its row already names. */
const SELECTOR_FIELD: Record<ConnectorKind, string> = {
  source: 'source.type',
  target: 'target.type',
  webhook: 'triggers.webhook.signature',
  cdc: 'source.format',
};

/** Leaf fields a pipeline must write for this entry: required, and not inside an optional object. */
function requiredFields(entry: ConnectorDoc): string {
  const optional = entry.fields.filter((field) => !field.required).map((field) => `${field.path}.`);
  const required = entry.fields
    .filter(
      (field) => field.required && field.when === undefined && field.path !== SELECTOR_FIELD[entry.kind],
    )
    .filter((field) => !optional.some((prefix) => field.path.startsWith(prefix)))
    .map((field) => field.path);
  const leaves = required.filter((field) => !required.some((other) => other.startsWith(`${field}.`)));
  const shown = leaves.map((field) => field.replace(/^(source|target)\./, ''));
  return shown.length === 0 ? '-' : shown.join(', ');
}

function firstSentence(text: string): string {
  const end = text.search(/[.;](\s|$)/);
  return end === -1 ? text : text.slice(0, end);
}

/** Formats rows as left-aligned columns separated by two spaces. */
function table(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const row of rows)
    for (const [i, cell] of row.entries()) widths[i] = Math.max(widths[i] ?? 0, cell.length);
  return rows.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

/** `esync connectors`: what pipelines can read from, write to and accept pushes through. */
export const connectors: Command = async (argv, io) => {
  const { values } = parseConnectorsArgs(argv);
  if (values.help) {
    io.out(connectorsUsage);
    return 0;
  }
  if (values.json) {
    io.out(JSON.stringify({ connectors: CONNECTOR_CATALOG }));
    return 0;
  }
  const rows = CONNECTOR_CATALOG.map((entry) => [
    KIND_LABEL[entry.kind],
    entry.type,
    requiredFields(entry),
    firstSentence(entry.summary),
  ]);
  io.out(table([['KIND', 'TYPE', 'REQUIRED', 'DESCRIPTION'], ...rows]).join('\n'));
  io.out('\nEvery field, default and an example: docs/connectors.md (or --json).');
  return 0;
};
