import { SSMProvider } from '@aws-lambda-powertools/parameters/ssm';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { ConfigError, isRetryable, TransientError } from '../errors.ts';
import { PipelineCatalog } from './catalog.ts';
import type { CatalogSource } from './catalog-source.ts';
import { formatPath } from './issue-path.ts';
import { type Pipeline, pipelineSchema } from './schema.ts';

export interface ParameterCatalogOptions {
  /** The parameter path, `/esync/<stage>/pipelines`. */
  readonly path: string;
  /**
   * Seconds the pipelines read are reused before the path is read again: a pipeline deployed,
   * changed or removed reaches warm containers after at most this long. 0 reads every time.
   */
  readonly maxAgeSeconds: number;
}

/**
 * The stage's pipelines as their stacks publish them, one SSM parameter each under a path, read
 * with GetParametersByPath through the Powertools SSM provider, which keeps them `maxAgeSeconds`.
 * Each value is validated again, so a hand-edited parameter fails the call naming it.
 */
export class ParameterCatalogSource implements CatalogSource {
  readonly #provider: SSMProvider;
  readonly #options: ParameterCatalogOptions;
  /** The catalog built from the values last read: the provider hands back the same object while they are fresh. */
  #built?: { readonly values: Record<string, unknown>; readonly catalog: PipelineCatalog };

  constructor(client: SSMClient, options: ParameterCatalogOptions) {
    this.#provider = new SSMProvider({ awsSdkV3Client: client });
    this.#options = options;
  }

  async current(): Promise<PipelineCatalog> {
    const { path, maxAgeSeconds } = this.#options;
    let values: Record<string, unknown> | undefined;
    try {
      values = await this.#provider.getMultiple(path, { maxAge: maxAgeSeconds, recursive: false });
    } catch (error) {
      const cause = (error as Error).cause ?? error;
      if (isRetryable(cause))
        throw new TransientError(`reading the pipelines under ${path} failed`, { cause });
      throw new ConfigError(`cannot read the pipelines under SSM parameter path ${path}: ${String(cause)}`, {
        cause,
      });
    }
    const found = values ?? {};
    if (this.#built?.values === found) return this.#built.catalog;
    const pipelines = Object.entries(found).map(([name, value]) => parsePipelineParameter(path, name, value));
    const catalog = new PipelineCatalog(pipelines);
    this.#built = { values: found, catalog };
    return catalog;
  }
}

/**
 * One pipeline from its parameter `<path>/<name>`.
 * @throws ConfigError naming the parameter when its value is not JSON, not a valid pipeline, or
 * a pipeline of another name.
 */
export function parsePipelineParameter(path: string, name: string, value: unknown): Pipeline {
  const parameter = `${path}/${name}`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(String(value));
  } catch (error) {
    throw new ConfigError(`SSM parameter ${parameter} is not valid JSON: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const result = pipelineSchema.safeParse(parsed);
  if (!result.success) {
    const details = result.error.issues
      .slice(0, 5)
      .map((issue) => `${formatPath(issue.path) || '(root)'}: ${issue.message}`)
      .join('; ');
    throw new ConfigError(`SSM parameter ${parameter} holds an invalid pipeline: ${details}`, {
      cause: result.error,
    });
  }
  if (result.data.name !== name)
    throw new ConfigError(
      `SSM parameter ${parameter} holds pipeline "${result.data.name}"; a pipeline is published under its own name`,
    );
  return result.data;
}
