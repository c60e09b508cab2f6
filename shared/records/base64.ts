/**
 * Bytes in record data are padded standard base64 (docs/type-mapping.md). `Buffer.from(text,
 * 'base64')` alone takes any text, skipping what is not base64, so a value is checked first.
 */
const CANONICAL_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Whether `value` is bytes in their canonical form: padded standard base64. */
export const isCanonicalBase64 = (value: unknown): value is string =>
  typeof value === 'string' && CANONICAL_BASE64.test(value);
