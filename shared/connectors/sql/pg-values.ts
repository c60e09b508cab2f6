import pg from 'pg';
import { parse as parseArray } from 'postgres-array';
import { exactNumber, parseExactJson } from '../../records/exact-json.ts';
import { isoFromDatabaseText } from './table-source.ts';

/**
 * How PostgreSQL values become canonical record values (docs/type-mapping.md), for every
 * connection ESync opens to PostgreSQL: the polling source, and the PostgreSQL target when it
 * reads rows back (conflict strategies, Verify), so both sides of a comparison read alike.
 * Parsers take the server's text form, so nothing passes through a double that would alter it.
 */
type TextParser = (text: string) => unknown;

/** NaN and the infinities stay the strings PostgreSQL prints (JSON has no such numbers). */
const NON_FINITE: ReadonlySet<string> = new Set(['NaN', 'Infinity', '-Infinity']);

const exactInteger: TextParser = (text) => exactNumber(text);
const exactDecimal: TextParser = (text) => (NON_FINITE.has(text) ? text : exactNumber(text));
const float: TextParser = (text) => (NON_FINITE.has(text) ? text : Number(text));
const bytea: TextParser = (text) =>
  (pg.types.getTypeParser(pg.types.builtins.BYTEA, 'text')(text) as Buffer).toString('base64');
const text: TextParser = (value) => value;

/** Element types by OID, and their array types: each array is parsed element by element. */
const SCALARS: ReadonlyArray<readonly [oid: number, arrayOid: number, parse: TextParser]> = [
  [20, 1016, exactInteger], // int8
  [1700, 1231, exactDecimal], // numeric
  [700, 1021, float], // float4
  [701, 1022, float], // float8
  [114, 199, parseExactJson], // json
  [3802, 3807, parseExactJson], // jsonb
  [17, 1001, bytea],
  [1082, 1182, text], // date: "YYYY-MM-DD", "infinity"
  [1114, 1115, isoFromDatabaseText], // timestamp
  [1184, 1185, isoFromDatabaseText], // timestamptz
];

const PARSERS = new Map<number, TextParser>();
for (const [oid, arrayOid, parse] of SCALARS) {
  PARSERS.set(oid, parse);
  PARSERS.set(arrayOid, (value) => parseArray(value, parse));
}

/** The `types` option of a pg pool or client that reads canonical values. */
export const pgTypeParsers: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    PARSERS.get(oid) ??
    pg.types.getTypeParser(oid, format ?? 'text')) as pg.CustomTypesConfig['getTypeParser'],
};
