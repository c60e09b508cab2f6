import type { SSMClient } from '@aws-sdk/client-ssm';
import * as z from 'zod';
import { ConfigError } from '../errors.ts';
import { catalogFromEnv, type PipelineCatalog } from './catalog.ts';

/**
 * Environment variable naming the SSM parameter path a function reads the stage's pipelines from
 * (`/esync/<stage>/pipelines`, see pipelineParameterPath), instead of a catalog baked into it.
 */
export const PIPELINE_PARAMETERS_ENV = 'ESYNC_PIPELINE_PARAMETERS';

/**
 * Where a stage's shared functions find its pipelines (EsyncStackProps.catalog): read at run time
 * from the SSM parameters the pipelines publish, or baked into their bundles.
 */
export const CATALOG_MODES = ['parameters', 'baked'] as const;
export type CatalogMode = (typeof CATALOG_MODES)[number];

/** Where a function gets the pipelines it serves; asked on every invocation. */
export interface CatalogSource {
  /** The pipelines as they stand now (a source may serve a copy up to its maximum age old). */
  current(): Promise<PipelineCatalog>;
}

/** A catalog that never changes: the one baked into a function's bundle, or a test's own. */
export class FixedCatalogSource implements CatalogSource {
  constructor(readonly catalog: PipelineCatalog) {}

  current(): Promise<PipelineCatalog> {
    return Promise.resolve(this.catalog);
  }
}

export function fixedCatalogSource(catalog: PipelineCatalog): FixedCatalogSource {
  return new FixedCatalogSource(catalog);
}

const parameterPathSchema = z.string().regex(/^(\/[A-Za-z0-9_.-]+)+$/);

/**
 * The pipelines under an SSM parameter path, read by {@link ParameterCatalogSource}, which is
 * imported with the first read: a function whose catalog is baked in never loads the SSM client
 * or the Powertools SSM provider.
 */
export class LazyParameterCatalogSource implements CatalogSource {
  readonly #open: () => Promise<CatalogSource>;
  #source: Promise<CatalogSource> | undefined;

  constructor(path: string, client: () => Promise<SSMClient>, maxAgeSeconds: number) {
    this.#open = async () => {
      const [{ ParameterCatalogSource }, ssm] = await Promise.all([
        import('./parameter-catalog-source.ts'),
        client(),
      ]);
      return new ParameterCatalogSource(ssm, { path, maxAgeSeconds });
    };
  }

  async current(): Promise<PipelineCatalog> {
    this.#source ??= this.#open();
    return (await this.#source).current();
  }
}

/**
 * The catalog source a function's environment names: the SSM path in `ESYNC_PIPELINE_PARAMETERS`
 * when set (a shared function of a stage whose pipelines deploy in stacks of their own), else the
 * catalog in `ESYNC_PIPELINES` (baked into the bundle, or set by the local stack).
 * @throws ConfigError when the path is malformed, or as {@link catalogFromEnv} does.
 */
export function catalogSourceFromEnv(
  env: NodeJS.ProcessEnv,
  parameters: { readonly client: () => Promise<SSMClient>; readonly maxAgeSeconds: number },
): CatalogSource {
  const path = env[PIPELINE_PARAMETERS_ENV];
  if (path === undefined || path === '') return fixedCatalogSource(catalogFromEnv(env));
  if (!parameterPathSchema.safeParse(path).success)
    throw new ConfigError(
      `${PIPELINE_PARAMETERS_ENV} must be an SSM parameter path like /esync/dev/pipelines, got "${path}"`,
    );
  return new LazyParameterCatalogSource(path, parameters.client, parameters.maxAgeSeconds);
}
