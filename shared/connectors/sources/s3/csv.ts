import { pipeline, type Readable } from 'node:stream';
import { CsvError, type Options, parse } from 'csv-parse';

/**
 * RFC 4180 as objects in the wild write it: records ended by CRLF, LF or a lone CR alike (a file
 * may mix them), a leading byte-order mark dropped, blank lines skipped. Field counts are left to
 * the caller, which checks them against the header with the record's position.
 */
const OPTIONS: Options = {
  bom: true,
  skip_empty_lines: true,
  relax_column_count: true,
  record_delimiter: ['\r\n', '\n', '\r'],
};

/**
 * The records of a CSV text stream, each as its fields, read as the stream arrives (only the
 * record being parsed is held in memory); quoted fields keep commas, doubled quotes and line breaks.
 * @throws SyntaxError naming the line, for text that is not CSV (a quote never closed, a stray quote).
 */
export async function* csvRecords(input: Readable): AsyncGenerator<string[]> {
  // pipeline, unlike pipe, ends the parser with the input's error, so a failed read is not an end of file.
  const records = pipeline(input, parse(OPTIONS), () => undefined);
  try {
    for await (const fields of records) yield fields as string[];
  } catch (error) {
    if (error instanceof CsvError) throw new SyntaxError(`not valid CSV: ${error.message}`, { cause: error });
    throw error;
  } finally {
    records.destroy();
  }
}
