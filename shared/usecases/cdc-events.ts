import type { DebeziumDecoding, IgnoredEventKind, TruncateEvent } from '../cdc/index.ts';
import { EsyncError, isRetryable, ValidationError } from '../errors.ts';
import type { Pipeline } from '../pipeline/schema.ts';
import { makeEnvelope, type RecordEnvelope } from '../records/envelope.ts';
import type { Deps } from './deps.ts';

/** The records a decoded change event loads; `ignored` names a kind that changes no row. */
export interface ChangeEventRecords {
  readonly records: RecordEnvelope[];
  readonly ignored?: IgnoredEventKind;
}

/**
 * The records of a decoded change event: its changes; none for an ignored kind; for a truncate
 * (with `source.truncate: delete`), a delete of every live target record at the truncate's
 * position, so the normal versioned path applies it and a record a later change wrote stays.
 * @throws ValidationError for a truncate the pipeline refuses, or whose target cannot be listed.
 */
export async function recordsOfChangeEvent(
  deps: Deps,
  pipeline: Pipeline,
  decoding: DebeziumDecoding,
): Promise<ChangeEventRecords> {
  if (decoding.kind === 'changes') return { records: decoding.records };
  if (decoding.kind === 'ignored') return { records: [], ignored: decoding.ignored };
  if (pipeline.source.type !== 'cdc' || pipeline.source.truncate !== 'delete')
    throw new ValidationError(
      `debezium truncate of table ${decoding.truncate.table ?? '(unnamed)'} was not applied: pipeline "${pipeline.name}" has source.truncate: quarantine. To delete the target's records, set source.truncate: delete and put the event on the bus again`,
      [{ path: 'op', message: 'truncate refused by source.truncate' }],
    );
  return { records: await truncateDeletes(deps, pipeline, decoding.truncate) };
}

async function truncateDeletes(
  deps: Deps,
  pipeline: Pipeline,
  truncate: TruncateEvent,
): Promise<RecordEnvelope[]> {
  const target = deps.createTarget(pipeline);
  const records: RecordEnvelope[] = [];
  const provenance = {
    pipeline: pipeline.name,
    ...(truncate.deliveryId ? { deliveryId: truncate.deliveryId } : {}),
  };
  try {
    for await (const page of target.snapshot())
      for (const live of page)
        records.push(
          makeEnvelope({
            key: live.key,
            op: 'delete',
            version: truncate.version,
            ts: truncate.ts,
            data: null,
            provenance,
          }),
        );
  } catch (error) {
    if (!(error instanceof EsyncError) || isRetryable(error)) throw error;
    throw new ValidationError(
      `debezium truncate of table ${truncate.table ?? '(unnamed)'} cannot be applied: ${error.message}; set source.truncate: quarantine to keep the target`,
      [{ path: 'op', message: 'the target cannot list its records' }],
      { cause: error },
    );
  } finally {
    await target.close();
  }
  return records;
}
