import * as z from 'zod';
import { ConfigError, NotFoundError } from '../errors.ts';
import { didYouMean } from './did-you-mean.ts';
import { formatPath } from './issue-path.ts';
import { type Pipeline, pipelineSchema, RETENTION_DEFAULTS } from './schema.ts';

/** Environment variable holding the pipelines a deployed function serves, as a JSON array. */
export const PIPELINES_ENV = 'ESYNC_PIPELINES';

/**
 * The pipelines a function serves, by name. Built once at cold start (see {@link catalogFromEnv});
 * handlers take it as a parameter so tests pass their own.
 */
export class PipelineCatalog {
  private readonly byName: ReadonlyMap<string, Pipeline>;

  /** @throws ConfigError when two pipelines share a name. */
  constructor(pipelines: readonly Pipeline[]) {
    const byName = new Map<string, Pipeline>();
    for (const pipeline of pipelines) {
      if (byName.has(pipeline.name))
        throw new ConfigError(`pipeline name "${pipeline.name}" appears twice in the catalog`);
      byName.set(pipeline.name, pipeline);
    }
    this.byName = byName;
  }

  /**
   * The pipeline named `name`.
   * @throws NotFoundError naming the known pipelines (and the closest one) when there is none.
   */
  get(name: string): Pipeline {
    const pipeline = this.byName.get(name);
    if (pipeline !== undefined) return pipeline;
    const known = this.names();
    const list = known.length === 0 ? 'no pipelines are deployed' : `known pipelines: ${known.join(', ')}`;
    throw new NotFoundError(`unknown pipeline "${name}"; ${list}${didYouMean(name, known)}`);
  }

  /** Whether a pipeline of that name exists. */
  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** How long a pipeline's records are kept: its own settings, the defaults for one no longer deployed. */
  retentionOf(name: string): Pipeline['retention'] {
    return this.byName.get(name)?.retention ?? RETENTION_DEFAULTS;
  }

  /** Every pipeline, in name order. */
  all(): Pipeline[] {
    return this.names().map((name) => this.byName.get(name) as Pipeline);
  }

  /** Every pipeline name, sorted. */
  names(): string[] {
    return [...this.byName.keys()].sort();
  }
}

/**
 * The catalog's wire form: the JSON array that {@link catalogFromEnv} reads from `ESYNC_PIPELINES`.
 * The local stack sets the variable to this string; the CDK app bakes it into each bundle with an
 * esbuild banner that sets `process.env.ESYNC_PIPELINES` before any module runs (a `define` would
 * not reach the computed key this module reads), keeping the 4 KB Lambda environment free.
 */
export function serializeCatalog(pipelines: readonly Pipeline[]): string {
  return JSON.stringify(pipelines);
}

/**
 * Builds the catalog from `ESYNC_PIPELINES`, re-validating every pipeline so a stale or hand-edited
 * value fails at cold start instead of mid-run.
 * @throws ConfigError when the variable is missing, is not JSON, or holds an invalid pipeline.
 */
export function catalogFromEnv(env: NodeJS.ProcessEnv = process.env): PipelineCatalog {
  const raw = env[PIPELINES_ENV];
  if (raw === undefined || raw.trim() === '')
    throw new ConfigError(
      `${PIPELINES_ENV} is not set; it must hold the JSON array of pipelines this function serves`,
    );
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (error) {
    throw new ConfigError(`${PIPELINES_ENV} is not valid JSON: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const result = z.array(pipelineSchema).safeParse(parsed);
  if (!result.success) {
    const details = result.error.issues
      .slice(0, 5)
      .map((issue) => `${formatPath(issue.path) || '(root)'}: ${issue.message}`)
      .join('; ');
    const more = result.error.issues.length > 5 ? ` (and ${result.error.issues.length - 5} more)` : '';
    throw new ConfigError(`${PIPELINES_ENV} holds invalid pipelines: ${details}${more}`, {
      cause: result.error,
    });
  }
  return new PipelineCatalog(result.data);
}
