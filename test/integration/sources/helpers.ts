import { type AwsClients, createAwsClients } from '../../../shared/aws/clients.ts';
import { StaticSecretsProvider } from '../../../shared/aws/secrets.ts';
import type {
  ChangeWindow,
  ConnectorContext,
  Cursor,
  Partition,
  SourceConnector,
  SourceRow,
} from '../../../shared/connectors/types.ts';
import { inKeyRange, type KeyRange, type KeyTuple } from '../../../shared/domain/key-range.ts';
import type { RetryOptions } from '../../../shared/domain/retry.ts';
import { type PipelineInput, pipelineSchema, type SourceConfig } from '../../../shared/pipeline/schema.ts';

/** Retries fast enough for tests, yet enough of them to ride over one injected fault. */
export const TEST_RETRY: RetryOptions = { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 5, jitter: 'none' };

export interface SourceUnderTest<T extends SourceConfig['type']> {
  readonly config: Extract<SourceConfig, { type: T }>;
  readonly context: ConnectorContext;
}

/** Parses a source config the way a pipeline file is parsed, with a context around it. */
export function sourceSetup<T extends SourceConfig['type']>(
  source: PipelineInput['source'] & { type: T },
  options: {
    secrets?: Record<string, string | Record<string, unknown>>;
    clients?: Partial<AwsClients>;
    retry?: RetryOptions;
  } = {},
): SourceUnderTest<T> {
  const pipeline = pipelineSchema.parse({ name: 'source-test', source, target: { type: 'dynamodb' } });
  return {
    config: pipeline.source as Extract<SourceConfig, { type: T }>,
    context: {
      pipeline,
      clients: { ...createAwsClients(), ...options.clients },
      secrets: new StaticSecretsProvider(options.secrets ?? {}),
      dataBucket: 'esync-test-data',
      stage: 'test',
      retry: options.retry ?? TEST_RETRY,
    },
  };
}

/** Every page of a read. */
export async function readPages(
  source: SourceConnector,
  window: ChangeWindow = { from: null, to: null },
  partition = { id: 'all', spec: {} },
  resumeAfter?: Cursor,
): Promise<SourceRow[][]> {
  const pages: SourceRow[][] = [];
  for await (const page of source.read(window, partition, resumeAfter)) pages.push(page);
  return pages;
}

/** Every row of a read, pages flattened. */
export async function readAll(
  source: SourceConnector,
  window?: ChangeWindow,
  partition?: { id: string; spec: Record<string, unknown> },
  resumeAfter?: Cursor,
): Promise<SourceRow[]> {
  return (await readPages(source, window, partition, resumeAfter)).flat();
}

/** The keys of rows, in read order. */
export const keysOf = (rows: readonly SourceRow[]): string[] => rows.map((r) => r.cursor.key);

/**
 * The keys of each partition that lie outside its key range as Verify compares keys: the record
 * key split at `#` into `width` parts, integer text as a number (an integer key column).
 */
export function misplacedKeys(
  partitions: readonly Partition[],
  perPartition: readonly (readonly string[])[],
  width = 1,
): string[] {
  const tuple = (key: string): KeyTuple => {
    const parts = width === 1 ? [key] : key.split('#');
    return parts.map((p) => (width > 1 && /^(0|-?[1-9]\d*)$/.test(p) ? Number(p) : p));
  };
  return partitions.flatMap((p, i) =>
    (perPartition[i] ?? []).filter((k) => !inKeyRange(tuple(k), p.spec.range as KeyRange)),
  );
}

/** A plan of `parts` key ranges of the whole table and the keys each of its partitions reads. */
export async function readPlanned(
  source: SourceConnector,
  parts: number,
): Promise<{ partitions: Partition[]; perPartition: string[][] }> {
  const window = { from: null, to: null };
  const partitions = await source.planPartitions(window, parts);
  const perPartition = await Promise.all(
    partitions.map(async (p) => keysOf(await readAll(source, window, p))),
  );
  return { partitions, perPartition };
}
