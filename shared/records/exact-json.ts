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

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const MINUS = 0x2d;

/** The index after the string whose contents start at `from` (just past its opening quote). */
function endOfString(text: string, from: number): number {
  for (let i = from; ; ) {
    const quote = text.indexOf('"', i);
    if (quote < 0) return text.length;
    let backslashes = 0;
    while (text.charCodeAt(quote - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return quote + 1;
    i = quote + 1;
  }
}

const isDigit = (c: number) => c >= 0x30 && c <= 0x39;

/**
 * True when the number literal in `text[start, end)` may be altered by a double: 16 or more
 * digits (a double keeps 15 significant digits exactly; leading zeros count, which only costs
 * the slower parse) or a three-digit exponent.
 */
function mayAlter(text: string, start: number, end: number): boolean {
  let digits = 0;
  let i = start;
  for (; i < end; i++) {
    const c = text.charCodeAt(i);
    if (isDigit(c)) digits++;
    else if (c === 0x65 || c === 0x45) break;
  }
  return digits >= 16 || end - i - 1 >= 3;
}

/**
 * Whether a number token of `text` may be altered by `JSON.parse`. Strings are skipped with
 * `indexOf` (they hold most of a record's bytes, and long digit runs such as position versions
 * and ids), so the check costs a small part of the native parse it guards.
 */
function mayBeInexact(text: string): boolean {
  const n = text.length;
  for (let i = 0; i < n; ) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) i = endOfString(text, i + 1);
    else if (isDigit(c) || c === MINUS) {
      let end = i + 1;
      while (end < n && !isDelimiter(text.charCodeAt(end))) end++;
      if (mayAlter(text, i, end)) return true;
      i = end;
    } else i++;
  }
  return false;
}

/** What ends a number token: a comma, a closing bracket or brace, whitespace. */
const isDelimiter = (c: number) => c === 0x2c || c === 0x5d || c === 0x7d || c <= 0x20;

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
  if (!mayBeInexact(text)) return JSON.parse(text);
  return losslessParse(text, null, exactNumber);
}

/** `JSON.stringify` that writes {@link ExactNumber}s as bare number literals. */
export function stringifyExactJson(value: unknown, space?: number): string {
  const json = JSON.stringify(value, null, space);
  if (json === undefined) throw new TypeError('value has no JSON form');
  return json.includes(MARKER_IN_JSON) ? json.replace(MARKER_PATTERN, '$1') : json;
}
