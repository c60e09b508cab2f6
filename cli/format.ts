import { stringifyExactJson } from '../shared/records/exact-json.ts';
/**
 * Text output for people: aligned tables, durations, money, counts. Scripts use `--json`
 * instead, so nothing here needs to be machine-readable.
 */

export type Cell = string | number | null | undefined;

const cellText = (cell: Cell) =>
  cell === null || cell === undefined ? '-' : typeof cell === 'number' ? formatCount(cell) : cell;

/**
 * A table with a header row; numbers are right-aligned, everything else left-aligned. Columns
 * are separated by two spaces and trailing spaces are trimmed.
 */
export function table(headers: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const texts = rows.map((row) => headers.map((_, i) => cellText(row[i])));
  const numeric = headers.map(
    (_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number' || r[i] == null),
  );
  const widths = headers.map((h, i) => Math.max(h.length, ...texts.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (numeric[i] ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...texts.map(line)].join('\n');
}

/** `label  value` lines with the labels padded to one width. */
export function keyValues(pairs: readonly (readonly [string, Cell])[]): string {
  const width = Math.max(0, ...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${k.padEnd(width)}  ${cellText(v)}`).join('\n');
}

/** A duration for people: `850 ms`, `12.3 s`, `4m 05s`, `2h 03m`. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '-';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const totalSeconds = Math.round(ms / 1000);
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds % 60;
  if (hours > 0) return `${hours}h ${String(minutes).padStart(2, '0')}m`;
  return `${minutes}m ${String(seconds).padStart(2, '0')}s`;
}

/**
 * Dollars: cents for amounts of a dollar or more, and enough digits below that to show the
 * first two significant ones (`$0.0042`), since one run often costs a fraction of a cent.
 */
export function formatMoney(usd: number | null | undefined): string {
  if (usd === null || usd === undefined || !Number.isFinite(usd)) return '-';
  if (usd === 0) return '$0.00';
  if (Math.abs(usd) >= 1) return `$${usd.toFixed(2)}`;
  const digits = Math.min(10, Math.max(2, 1 - Math.floor(Math.log10(Math.abs(usd)))));
  return `$${usd.toFixed(digits)}`;
}

/** An integer with thousands separators (`10,000`). */
export function formatCount(n: number): string {
  return Number.isInteger(n) ? n.toLocaleString('en-US') : String(n);
}

/** An ISO timestamp shortened for a table (`2025-01-31 12:00:05`), `-` when absent. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '-';
  return iso.replace('T', ' ').replace(/(\.\d+)?Z$/, '');
}

/** `text` cut to at most `max` characters, a cut one ending with `…` so it never reads as whole. */
export function cut(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** A value of unknown shape on one line (JSON for objects), cut at `max` characters. */
export function formatValue(value: unknown, max = 60): string {
  return cut(value === undefined ? '-' : typeof value === 'string' ? value : stringifyExactJson(value), max);
}
