import { historyTierDays } from './history-tiers.ts';
import { isPushOnlySource } from './push-only-sources.ts';
import type { Pipeline } from './schema.ts';

/** Something valid that probably does not do what its author wants; `esync validate` prints it. */
export interface PipelineWarning {
  readonly pipeline: string;
  /** Dotted path of the setting the warning is about. */
  readonly path: string;
  readonly message: string;
}

/** The warnings of one valid pipeline. */
export function pipelineWarnings(pipeline: Pipeline): PipelineWarning[] {
  const warnings: PipelineWarning[] = [];
  const warn = (path: string, message: string) => warnings.push({ pipeline: pipeline.name, path, message });
  const replay = replayProblem(pipeline);
  if (replay) warn('source.cursor', replay);
  const history = historyRounding(pipeline);
  if (history) warn('retention.historyDays', history);
  // A push-only source's changes arrive as events, deletes included: nothing to detect.
  if (isPushOnlySource(pipeline.source.type)) return warnings;
  if (pipeline.source.deletes.mode === 'none')
    warn(
      'source.deletes.mode',
      'is none: rows deleted at the source stay in the target. Use soft (a column marks deleted rows) or verify (Verify deletes target keys the source no longer has).',
    );
  if (pipeline.source.deletes.mode === 'verify' && pipeline.verify.mode === 'off')
    warn('source.deletes.mode', 'is verify, but verify.mode is off: hard deletes are never found.');
  return warnings;
}

/**
 * Why a webhook pipeline takes a replayed delivery as a new change: a JSON delivery without a
 * cursor is versioned by its arrival time, so a captured body sent again under a new delivery id
 * (the id is not signed) overwrites newer data, unless the signature covers a timestamp whose
 * tolerance window bounds how late a replay can come.
 */
function replayProblem(pipeline: Pipeline): string | undefined {
  const { source, triggers } = pipeline;
  if (source.type !== 'webhook' || source.mapping !== 'json' || source.cursor.length > 0) return undefined;
  const trigger = triggers.webhook;
  const signedTime =
    trigger?.signature === 'standard-webhooks' ||
    (trigger?.signature === 'hmac' && trigger.timestampHeader !== undefined);
  if (signedTime) return undefined;
  return 'is empty and the signature covers no timestamp: deliveries are replayable. A captured body sent again with a new delivery id is versioned by its arrival time and overwrites newer data. Name the entity timestamp as cursor (e.g. [updated_at]), or sign a timestamp (standard-webhooks, or hmac with timestampHeader) so replays outside toleranceSeconds are refused.';
}

/** Why archived changes are kept longer than `retention.historyDays` says: it is not a tier. */
function historyRounding(pipeline: Pipeline): string | undefined {
  const { historyDays } = pipeline.retention;
  const kept = historyTierDays(historyDays);
  if (kept === historyDays) return undefined;
  return `is ${historyDays}: archived changes are kept ${kept} days, the next history tier (the data bucket's lifecycle has one rule per tier, not per pipeline). Say ${kept} to silence this.`;
}
