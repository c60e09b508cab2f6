import * as z from 'zod';
import {
  type ChangeWindow,
  type ConnectorContext,
  ConnectorError,
  type Cursor,
  compareCursors,
  defineSource,
  parseExactJson,
  type RecordData,
  RowMapper,
  type SourceConnector,
  type SourceRow,
  TransientError,
} from '../../shared/extensions/index.ts';

const CONNECTOR = 'jsonl-url source';
const PAGE_ROWS = 500;

const optionsSchema = z.strictObject({
  url: z.url({ protocol: /^https?$/ }).describe('Where the JSON Lines document is served.'),
  timeoutMs: z.int().min(100).max(60_000).default(10_000),
});
type JsonlUrlOptions = z.output<typeof optionsSchema>;

async function fetchRecords(url: string, timeoutMs: number): Promise<RecordData[]> {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) }).catch((error: unknown) => {
    throw new TransientError(`${CONNECTOR}: ${new URL(url).host} did not answer`, { cause: error });
  });
  if (response.status === 429 || response.status >= 500)
    throw new TransientError(`${CONNECTOR}: ${new URL(url).host} answered ${response.status}`);
  if (!response.ok) throw new ConnectorError(CONNECTOR, `${new URL(url).host} answered ${response.status}`);
  const lines = (await response.text()).split('\n');
  return lines.flatMap((line, index) => {
    if (line.trim() === '') return [];
    const record = parseExactJson(line);
    if (typeof record !== 'object' || record === null || Array.isArray(record))
      throw new ConnectorError(CONNECTOR, `line ${index + 1} is not a JSON object`);
    return [record as RecordData];
  });
}

/**
 * A whole JSON Lines document read over HTTP(S) on every call: small reference data an API
 * serves as one file. Each line is a record; rows are ordered by the pipeline's cursor fields
 * (then key) here, so the document may list them in any order, and a run reads the rows of its
 * window after the checkpoint.
 */
class JsonlUrlSource implements SourceConnector {
  readonly #options: JsonlUrlOptions;
  readonly #mapper: RowMapper;

  constructor(options: JsonlUrlOptions, context: ConnectorContext) {
    this.#options = options;
    this.#mapper = new RowMapper({ ...context.pipeline.source, connector: CONNECTOR });
  }

  async discover() {
    const [first] = await fetchRecords(this.#options.url, this.#options.timeoutMs);
    return {
      fields: Object.entries(first ?? {}).map(([name, value]) => ({
        name,
        type: value === null ? 'null' : typeof value,
        nullable: value === null,
      })),
      primaryKey: [],
      capabilities: { incremental: true, deletes: 'none' as const, cdc: false },
    };
  }

  async planPartitions() {
    return [{ id: 'all', spec: {} }];
  }

  async *read(window: ChangeWindow, _partition: unknown, resumeAfter?: Cursor): AsyncIterable<SourceRow[]> {
    const after = [window.from, resumeAfter].filter((c): c is Cursor => c !== null && c !== undefined);
    const rows = (await this.#rows()).filter(
      (row) =>
        after.every((lower) => compareCursors(row.cursor, lower) > 0) &&
        (window.to === null || compareCursors(row.cursor, window.to) <= 0),
    );
    for (let start = 0; start < rows.length; start += PAGE_ROWS) yield rows.slice(start, start + PAGE_ROWS);
  }

  async currentHighWatermark(): Promise<Cursor | null> {
    return (await this.#rows()).at(-1)?.cursor ?? null;
  }

  async close(): Promise<void> {}

  async #rows(): Promise<SourceRow[]> {
    const records = await fetchRecords(this.#options.url, this.#options.timeoutMs);
    const rows = records.map((data, index) => this.#mapper.row(data, `line ${index + 1}`));
    return rows.sort((a, b) => compareCursors(a.cursor, b.cursor));
  }
}

/** `source: { type: custom, connector: jsonl-url, options: { url: https://… }, key: [...], cursor: [...] }` */
export const jsonlUrl = defineSource({
  type: 'jsonl-url',
  summary: 'A JSON Lines document served over HTTP(S), read whole and ordered by the cursor fields.',
  options: optionsSchema,
  create: (options, context) => new JsonlUrlSource(options, context),
});
