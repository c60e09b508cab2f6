import { buildKey, type RecordData, recordKeySchema } from '../records/envelope.ts';
import { isExactNumber } from '../records/exact-json.ts';
import { compileBounded, errorText } from './expressions.ts';

/** The key settings of a pipeline's source. */
export interface KeyConfig {
  readonly key: readonly string[];
  readonly keyExpression?: string | undefined;
}

/** Why a record's key expression gave no key; the record is quarantined with it. */
export interface KeyError {
  readonly expression: string;
  readonly error: string;
}

/**
 * A record's key. When the key expression failed on the record, `key` is made of the `source.key`
 * fields instead (a key the record can travel under to Load, which quarantines it) and `keyError`
 * says why.
 */
export type RecordKey = { readonly key: string; readonly keyError?: KeyError };

/**
 * Builds the record key of one record's data, as the source gives it: synchronously from the
 * `source.key` fields, or as a promise when a key expression (JSONata, asynchronous) builds it.
 */
export type RecordKeyOf = (data: Readonly<RecordData>) => RecordKey | Promise<RecordKey>;

const MAX_KEY_CHARS = recordKeySchema.maxLength ?? 1024;

function describe(value: unknown): string {
  if (value === undefined) return 'no result';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`;
}

/** The key an expression's result stands for; throws why it stands for none. */
function keyOfResult(result: unknown): string {
  const text =
    typeof result === 'string'
      ? result
      : typeof result === 'number' && Number.isFinite(result)
        ? String(result)
        : isExactNumber(result)
          ? result.value
          : undefined;
  if (text === undefined) throw new Error(`the key must be a string or a number, got ${describe(result)}`);
  if (text.length === 0) throw new Error('the key must not be empty');
  if (text.length > MAX_KEY_CHARS)
    throw new Error(`the key has ${text.length} characters, more than ${MAX_KEY_CHARS}`);
  return text;
}

/**
 * Compiles a source's key settings once into the function that keys its records: the `source.key`
 * fields joined by `#`, or the result of `keyExpression` (a non-empty string or a number).
 * @throws RangeError (from the returned function) when a `source.key` field is missing.
 */
export function createRecordKeyOf(config: KeyConfig): RecordKeyOf {
  const fields = config.key;
  const expression = config.keyExpression;
  if (expression === undefined) return (data) => ({ key: buildKey(data, fields) });
  const evaluate = compileBounded(expression);
  return async (data) => {
    const fieldKey = buildKey(data, fields);
    try {
      return { key: keyOfResult(await evaluate(data)) };
    } catch (error) {
      return { key: fieldKey, keyError: { expression, error: errorText(error) } };
    }
  };
}

const compiled = new WeakMap<KeyConfig, RecordKeyOf>();

/** {@link createRecordKeyOf} of a pipeline's source, compiled once per container. */
export function recordKeyOf(source: KeyConfig): RecordKeyOf {
  let keyOf = compiled.get(source);
  if (!keyOf) {
    keyOf = createRecordKeyOf(source);
    compiled.set(source, keyOf);
  }
  return keyOf;
}

/**
 * The keys of a page of rows, in order. Only a key expression's results are awaited, one after
 * another, so a pipeline keyed by its fields pays no promise per row.
 */
export async function keysOfPage(
  keyOf: RecordKeyOf,
  rows: readonly { readonly data: Readonly<RecordData> }[],
): Promise<RecordKey[]> {
  const keys: RecordKey[] = [];
  for (const row of rows) {
    const key = keyOf(row.data);
    keys.push(key instanceof Promise ? await key : key);
  }
  return keys;
}
