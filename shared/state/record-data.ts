import type { RecordData } from '../records/envelope.ts';
import { parseExactJson, stringifyExactJson } from '../records/exact-json.ts';

/**
 * Record data as the state table holds it (field-merge bases, parked conflicts): exact JSON text.
 * The document client would store an ExactNumber as a map and read long numbers back through a
 * double; text keeps every digit. Items written as a map before are read as they are.
 */
export function toStoredData(data: RecordData): string;
export function toStoredData(data: RecordData | null): string | null;
export function toStoredData(data: RecordData | null): string | null {
  return data === null ? null : stringifyExactJson(data);
}

/** The record data of a stored item's attribute (see {@link toStoredData}). */
export function fromStoredData(value: unknown): RecordData | null {
  if (typeof value === 'string') return parseExactJson(value) as RecordData;
  return (value ?? null) as RecordData | null;
}
