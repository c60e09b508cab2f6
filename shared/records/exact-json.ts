import { randomBytes } from 'node:crypto';
import Big from 'big.js';
import { isSafeNumber, LosslessNumber, parse as losslessParse } from 'lossless-json';

/**
 * A number kept as its decimal text because a JavaScript number would alter it: integers beyond
 * 2^53, decimals with more than 15 significant digits, exponents out of double range. It travels
 * through record data as itself and is written to JSON as a bare number literal, to DynamoDB as
 * an N attribute and to PostgreSQL as numeric text, so no step between source and target rounds it.
 */
export class ExactNumber extends LosslessNumber {
  /** `JSON.stringify` calls this; {@link stringifyExactJson} turns the marker back into the literal. */
  toJSON(): string {
    return `${MARKER}${this.value}${MARKER_END}`;
  }
}

/**
 * Per-process random marker: a record's own strings cannot contain it by accident or by design,
 * so replacing it after `JSON.stringify` can never alter data.
 */
const NONCE = randomBytes(9).toString('base64url');
const MARKER = `\u0000exact-${NONCE}:`;
const MARKER_END = '\u0000';
const MARKER_IN_JSON = `"\\u0000exact-${NONCE}:`;
const MARKER_PATTERN = new RegExp(`"\\\\u0000exact-${NONCE}:([^"\\\\]+)\\\\u0000"`, 'g');

/**
 * A number literal `JSON.parse` may alter: 16 or more digits (with any decimal point among them)
 * or a three-digit exponent. Anything shorter has at most 15 significant digits and round-trips
 * through a double exactly, so texts without a match take the native parser. A number token
 * starts the text or follows `[`, `,` or a member name's `":`, which keeps digit runs inside
 * strings (position versions, ids) off the slow path; a string that happens to look like one
 * only costs the slower exact parse.
 */
const MAYBE_INEXACT = /(?:^|[,[]|"\s*:)\s*-?\d(?:[\d.]{15}|[\d.]*[eE][+-]?\d{3})/;

/** A number for a decimal literal: a JavaScript number when that is exact, an {@link ExactNumber} otherwise. */
export function exactNumber(literal: string): number | ExactNumber {
  return isSafeNumber(literal) ? Number(literal) : new ExactNumber(literal);
}

export function isExactNumber(value: unknown): value is ExactNumber {
  return value instanceof ExactNumber;
}

/**
 * One text per numeric value, whatever literal carried it: `String(n)` when a double holds the
 * value (so an {@link ExactNumber} of 1.50 and the number 1.5 hash alike), otherwise the shortest
 * decimal with JavaScript's notation rules (exponent from 1e21 and below 1e-6). Two sides that
 * print one value differently (PostgreSQL's `1.2300`, DynamoDB's `1.23`) compare equal.
 */
export function canonicalNumberText(value: number | ExactNumber): string {
  if (typeof value === 'number') return String(value);
  const literal = value.value;
  return isSafeNumber(literal) ? String(Number(literal)) : new Big(literal).toString();
}

/** `JSON.parse` that keeps every number exact (see {@link ExactNumber}). Throws `SyntaxError` as `JSON.parse` does. */
export function parseExactJson(text: string): unknown {
  if (!MAYBE_INEXACT.test(text)) return JSON.parse(text);
  return losslessParse(text, null, exactNumber);
}

/** `JSON.stringify` that writes {@link ExactNumber}s as bare number literals. */
export function stringifyExactJson(value: unknown, space?: number): string {
  const json = JSON.stringify(value, null, space);
  if (json === undefined) throw new TypeError('value has no JSON form');
  return json.includes(MARKER_IN_JSON) ? json.replace(MARKER_PATTERN, '$1') : json;
}
