import { ConfigError, NotFoundError } from '../errors.ts';
import { didYouMean } from './did-you-mean.ts';
import { RETENTION_DEFAULTS } from './retention.ts';
import type { Pipeline } from './schema.ts';

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
 * Builds the catalog from `ESYNC_PIPELINES`, without parsing it again with the pipeline schema:
 * the value is written by {@link serializeCatalog} from pipelines the schema parsed (the CDK app
 * at synth, the local stack at start) and baked into the bundle with the code that reads it, so
 * a function never loads the schema, zod's pipeline checks or JSONata to start. Parsing again
 * would change nothing (test/unit/pipeline/catalog.test.ts holds the schema to that). What is
 * read from outside the build, the stage's SSM parameters, is parsed with the schema
 * (parameter-catalog-source.ts).
 * @throws ConfigError when the variable is missing, is not JSON, or is not an array of named pipelines.
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
  if (!Array.isArray(parsed))
    throw new ConfigError(`${PIPELINES_ENV} must hold a JSON array of pipelines, got ${typeof parsed}`);
  const unnamed = parsed.findIndex(
    (p: unknown) => typeof p !== 'object' || p === null || typeof (p as { name?: unknown }).name !== 'string',
  );
  if (unnamed >= 0)
    throw new ConfigError(`${PIPELINES_ENV} holds an entry without a pipeline name at [${unnamed}]`);
  return new PipelineCatalog(parsed as Pipeline[]);
}
