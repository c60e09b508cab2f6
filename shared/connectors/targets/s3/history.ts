import type { S3Client } from '@aws-sdk/client-s3';
import * as z from 'zod';
import type { SdkClient } from '../../../aws/clients.ts';
import { DEFAULT_RETRY, type RetryOptions } from '../../../domain/retry.ts';
import { ConnectorError, ValidationError } from '../../../errors.ts';
import type { RecordData } from '../../../records/envelope.ts';
import { parseExactJson } from '../../../records/exact-json.ts';
import { compareChanges, toIsoMillis, type Version } from '../../../records/version.ts';
import { mapWithConcurrency } from '../support/batch.ts';
import { archiveKeyPrefix, lakeLineSchema } from './lake-layout.ts';
import { S3Objects } from './s3-objects.ts';

const archivedChangeSchema = lakeLineSchema.extend({ messageKey: z.string().optional() });

/** One archived change of a record. */
export type ArchivedChange = z.infer<typeof archivedChangeSchema>;

/** What `recordHistory` needs: the S3 client and the ESync data bucket holding the archive. */
export interface HistoryContext {
  readonly clients: { readonly s3: SdkClient<S3Client> };
  readonly dataBucket: string;
  readonly retry?: RetryOptions;
}

/** A record's archived changes and its state at one moment. */
export interface RecordHistory {
  readonly pipeline: string;
  readonly key: string;
  /** Every archived change, oldest version first. */
  readonly versions: readonly ArchivedChange[];
  /** The moment `state` describes (ISO-8601); now when not asked. */
  readonly at: string;
  /**
   * The record at `at`: the newest version among the changes made (by their `ts`) at or before
   * it. `exists` is false when the record did not exist yet, or its last change was a delete.
   */
  readonly state: {
    readonly exists: boolean;
    readonly version: Version | null;
    readonly ts: string | null;
    readonly data: RecordData | null;
  };
}

const HISTORY_READ_CONCURRENCY = 8;

/**
 * Rebuilds a record as it was at `at` (default: now) from the change archive, which
 * `esync history <pipeline> <key> [--at TIME]` prints. The S3 lake target archives its changes
 * as it writes them; Load archives what every other target applied (change-archive.ts).
 */
export async function recordHistory(
  context: HistoryContext,
  pipeline: string,
  key: string,
  at?: Date | string,
): Promise<RecordHistory> {
  let moment: string;
  try {
    moment = toIsoMillis(at ?? new Date());
  } catch {
    throw new ValidationError(
      `--at ${JSON.stringify(String(at))} is not a timestamp; use ISO-8601, e.g. 2025-01-31T12:00:00Z`,
      [{ path: 'at', message: 'not a timestamp' }],
    );
  }
  const objects = new S3Objects(context.clients.s3, context.retry ?? DEFAULT_RETRY);
  const names: string[] = [];
  for await (const page of objects.list(context.dataBucket, archiveKeyPrefix(pipeline, key)))
    names.push(...page);
  const versions = await mapWithConcurrency(names, HISTORY_READ_CONCURRENCY, async (name) => {
    const text = await objects.getText(context.dataBucket, name);
    let parsed: ReturnType<typeof archivedChangeSchema.safeParse>;
    try {
      parsed = archivedChangeSchema.safeParse(parseExactJson(text));
    } catch {
      throw new ConnectorError('s3', `archive object s3://${context.dataBucket}/${name} is not JSON`);
    }
    if (!parsed.success)
      throw new ConnectorError(
        's3',
        `archive object s3://${context.dataBucket}/${name} is not an archived change`,
      );
    return parsed.data;
  });
  // Another key sharing the 128-bit hash prefix is not a practical concern, but costs nothing to exclude.
  const own = versions.filter((change) => change.key === key).sort(compareChanges);
  let current: ArchivedChange | undefined;
  for (const change of own) if (toIsoMillis(change.ts) <= moment) current = change;
  return {
    pipeline,
    key,
    versions: own,
    at: moment,
    state: {
      exists: current !== undefined && current.op === 'upsert',
      version: current?.version ?? null,
      ts: current?.ts ?? null,
      data: current?.op === 'upsert' ? current.data : null,
    },
  };
}
