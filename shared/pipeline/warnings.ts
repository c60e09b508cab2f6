import type { Pipeline } from './schema.ts';

/** Something valid that probably does not do what its author wants; `esync validate` prints it. */
export interface PipelineWarning {
  readonly pipeline: string;
  /** Dotted path of the setting the warning is about. */
  readonly path: string;
  readonly message: string;
}

/** Sources whose changes arrive as events, deletes included: nothing to detect. */
const PUSHED_SOURCES: ReadonlySet<string> = new Set(['webhook', 'cdc']);

/** The warnings of one valid pipeline. */
export function pipelineWarnings(pipeline: Pipeline): PipelineWarning[] {
  const warnings: PipelineWarning[] = [];
  const warn = (path: string, message: string) => warnings.push({ pipeline: pipeline.name, path, message });
  if (PUSHED_SOURCES.has(pipeline.source.type)) return warnings;
  if (pipeline.source.deletes.mode === 'none')
    warn(
      'source.deletes.mode',
      'is none: rows deleted at the source stay in the target. Use soft (a column marks deleted rows) or verify (Verify deletes target keys the source no longer has).',
    );
  if (pipeline.source.deletes.mode === 'verify' && pipeline.verify.mode === 'off')
    warn('source.deletes.mode', 'is verify, but verify.mode is off: hard deletes are never found.');
  return warnings;
}
