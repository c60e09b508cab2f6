import { ValidationError } from '../../../errors.ts';
import { isCanonicalBase64 } from '../../../records/base64.ts';
import { isExactNumber, stringifyExactJson } from '../../../records/exact-json.ts';

/**
 * A canonical record value (docs/type-mapping.md) as the parameter pg sends for a column whose
 * `format_type` is `type`. Numbers go as their decimal text, so numeric and bigint columns store
 * every digit; "NaN" and "±Infinity" are the text real/double columns accept; bytes travel as
 * base64 and are decoded for a bytea column; json/jsonb get JSON written losslessly.
 * @throws ValidationError naming the field and the type when a bytea value is not base64.
 */
export function columnParameter(value: unknown, type: string | undefined, field: string): unknown {
  if (value === null || value === undefined) return null;
  if (type === 'bytea' || type === 'bytea[]') return bytesOf(value, field, type);
  const json = type !== undefined && /^jsonb?$/.test(type);
  const parameter = json ? stringifyExactJson(value) : parameterOf(value);
  // PostgreSQL text, and jsonb's strings, cannot hold U+0000; it would fail the whole statement.
  const nul = type === 'jsonb' ? '\\u0000' : '\u0000';
  if (holds(parameter, nul))
    throw new ValidationError(
      `postgres: field "${field}" (${type ?? 'unknown type'}) holds a NUL character (U+0000), which PostgreSQL cannot store there`,
      [{ path: field, message: `${type ?? 'text'} cannot hold NUL (U+0000)` }],
    );
  return parameter;
}

function holds(parameter: unknown, text: string): boolean {
  if (typeof parameter === 'string') return parameter.includes(text);
  return Array.isArray(parameter) && parameter.some((p) => holds(p, text));
}

function parameterOf(value: unknown): unknown {
  if (isExactNumber(value)) return value.value;
  if (Array.isArray(value)) return value.map(parameterOf);
  if (value !== null && typeof value === 'object' && !(value instanceof Date) && !Buffer.isBuffer(value))
    return stringifyExactJson(value);
  return value;
}

function bytesOf(value: unknown, field: string, type: string): unknown {
  if (Array.isArray(value)) return value.map((v) => (v === null ? null : bytesOf(v, field, type)));
  if (isCanonicalBase64(value)) return Buffer.from(value, 'base64');
  throw new ValidationError(
    `postgres: field "${field}" (${type}) must hold base64 text, the canonical form of bytes`,
    [{ path: field, message: `${type} expects base64 text` }],
  );
}
