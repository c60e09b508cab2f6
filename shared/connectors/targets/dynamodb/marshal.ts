import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { NumberValue } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import Big from 'big.js';
import { ValidationError } from '../../../errors.ts';
import type { RecordData } from '../../../records/envelope.ts';
import { exactNumber, isExactNumber } from '../../../records/exact-json.ts';

/** DynamoDB numbers: at most 38 significant digits, magnitude from 1E-130 up to (not incl.) 1E+126. */
const MAX_DIGITS = 38;
const MIN_EXPONENT = -130;
const MAX_EXPONENT = 125;

/** Where a value sits in the record, for reasons: `price`, `lines[2].amount`. */
const childPath = (path: string, key: string | number) =>
  typeof key === 'number' ? `${path}[${key}]` : path === '' ? key : `${path}.${key}`;

/**
 * A number as an N attribute through the SDK's NumberValue, which carries its decimal text as it
 * is (the SDK refuses plain numbers beyond 2^53 and would round long decimals).
 * @throws ValidationError naming the field when DynamoDB could not store the value.
 */
function numberAttribute(text: string, path: string, type: string): NumberValue {
  const value = new Big(text);
  const digits = value.c.length;
  const zero = digits === 1 && value.c[0] === 0;
  const reason =
    digits > MAX_DIGITS
      ? `${digits} significant digits, DynamoDB numbers (N) hold at most ${MAX_DIGITS}`
      : !zero && (value.e < MIN_EXPONENT || value.e > MAX_EXPONENT)
        ? `magnitude 1E${value.e}, DynamoDB numbers (N) range from 1E${MIN_EXPONENT} to below 1E+${MAX_EXPONENT + 1}`
        : undefined;
  if (reason)
    throw new ValidationError(`dynamodb: field "${path}" (${type}) cannot be stored: ${reason}`, [
      { path, message: `${type} with ${reason}` },
    ]);
  return NumberValue.from(value.toString());
}

/**
 * Turns canonical record data (see `json-value.ts`) into what the document client writes: every
 * number beyond what the SDK takes as a JavaScript number (2^53, long decimals, exponents)
 * becomes a NumberValue, so DynamoDB stores it as N exactly.
 * @throws ValidationError with the field's path when a number is out of DynamoDB's range.
 */
export function toDynamoData(data: RecordData): RecordData {
  return toDynamoValue(data, '') as RecordData;
}

function toDynamoValue(value: unknown, path: string): unknown {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value : numberOf(value, path);
  if (typeof value === 'bigint') return numberAttribute(value.toString(), path, 'integer');
  if (value === null || typeof value !== 'object') return value;
  if (isExactNumber(value)) return numberAttribute(value.value, path, 'exact number');
  if (Array.isArray(value)) return value.map((v, i) => toDynamoValue(v, childPath(path, i)));
  const out: RecordData = {};
  for (const [k, v] of Object.entries(value)) out[k] = toDynamoValue(v, childPath(path, k));
  return out;
}

/**
 * Plain numbers the SDK writes exactly stay numbers (the common case, kept cheap): safe integers,
 * and fractions inside DynamoDB's range (a double has at most 17 digits, and every double beyond
 * 2^53 is an integer).
 */
function numberOf(value: number, path: string): unknown {
  if (!Number.isFinite(value)) return String(value);
  if (!Number.isInteger(value) && Math.abs(value) >= 1e-130) return value;
  return numberAttribute(String(value), path, 'number');
}

/**
 * Reads data back from items unmarshalled with `wrapNumbers`: each NumberValue becomes the exact
 * number it holds (a JavaScript number when that is exact), so a read compares equal to what was written.
 */
export function fromDynamoValue(value: unknown): unknown {
  if (value instanceof NumberValue) return exactNumber(value.value);
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(fromDynamoValue);
  if (value instanceof Set) return new Set([...value].map(fromDynamoValue));
  if (value instanceof Uint8Array) return value;
  const out: RecordData = {};
  for (const [k, v] of Object.entries(value)) out[k] = fromDynamoValue(v);
  return out;
}

/** An item as the low-level client returns it, with every N read back exactly. */
export function fromDynamoItem(item: Record<string, AttributeValue>): RecordData {
  return fromDynamoValue(unmarshall(item, { wrapNumbers: true })) as RecordData;
}
