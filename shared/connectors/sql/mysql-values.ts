import type { TypeCast } from 'mysql2/promise';
import { exactNumber, parseExactJson } from '../../records/exact-json.ts';
import { isoFromDatabaseText } from './table-source.ts';

const TEMPORAL: ReadonlySet<string> = new Set(['DATETIME', 'DATETIME2', 'TIMESTAMP', 'TIMESTAMP2']);
const EXACT: ReadonlySet<string> = new Set(['LONGLONG', 'NEWDECIMAL', 'DECIMAL']);

/**
 * How MySQL and MariaDB values become canonical record values (docs/type-mapping.md), read from
 * the server's text so nothing passes through a double: BIGINT (signed and unsigned) and DECIMAL
 * as exact numbers, BIT as the unsigned integer of its bits, JSON parsed exactly (MariaDB's JSON,
 * a LONGTEXT, is told by its extended metadata), DATETIME/TIMESTAMP as ISO-8601 UTC with the
 * column's fraction. BLOB and BINARY come as bytes (base64 in the record), DATE and TIME as text.
 */
export const mysqlTypeCast: TypeCast = (field, next) => {
  if (TEMPORAL.has(field.type)) {
    const text = field.string();
    return text === null ? null : isoFromDatabaseText(text);
  }
  if (EXACT.has(field.type)) {
    const text = field.string();
    return text === null ? null : exactNumber(text);
  }
  if (field.type === 'BIT') {
    const bytes = field.buffer();
    return bytes === null ? null : exactNumber(BigInt(`0x0${bytes.toString('hex')}`).toString());
  }
  if (field.type === 'JSON' || field.extendedFormat === 'json') {
    const text = field.string('utf8');
    return text === null ? null : parseExactJson(text);
  }
  return next();
};

/**
 * A single-precision FLOAT, read whole as the double it widens to (`CAST(k AS DOUBLE)`), as the
 * shortest number that reads back as the stored single: MariaDB prints a FLOAT to six digits
 * only, which is not the stored value (16777216 and 16777218 both print as 16777200).
 */
export function shortestSingle(read: unknown): unknown {
  if (typeof read !== 'number' || !Number.isFinite(read)) return read;
  const single = Math.fround(read);
  for (let digits = 1; digits < 9; digits++) {
    const shortest = Number(single.toPrecision(digits));
    if (Math.fround(shortest) === single) return shortest;
  }
  return Number(single.toPrecision(9));
}
