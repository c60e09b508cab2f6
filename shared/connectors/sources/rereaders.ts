import type { SourceConfig } from '../../pipeline/schema.ts';
import type { ConnectorRegistry } from '../connector-modules.ts';
import type { SourceRereader } from '../types.ts';
import type { GithubSource } from './github/source.ts';

/** Whether a pipeline's source has an API that answers for one record, so Load reads ties again there. */
export function rereadsAtSource(config: SourceConfig): config is Extract<SourceConfig, { type: 'github' }> {
  return config.type === 'github';
}

/** The GitHub source's class, once a pipeline that rereads at GitHub loaded it. */
let github: typeof GithubSource | undefined;

/**
 * The re-reader of a source whose API answers for one record (GitHub), or `undefined` for a
 * source without one. Load imports this registry alone, and the GitHub source only when a
 * pipeline it serves reads from GitHub, so its bundle loads no database driver.
 */
export const SOURCE_REREADERS: ConnectorRegistry<SourceConfig, SourceRereader | undefined> = {
  async load(configs) {
    for (const config of configs) if (rereadsAtSource(config)) return SOURCE_REREADERS.loadAll();
  },
  create(config, context) {
    if (!rereadsAtSource(config)) return undefined;
    if (!github)
      throw new Error(
        'the GitHub re-reader was created before its module was loaded (load the pipeline connectors first)',
      );
    return new github(config, context);
  },
  async loadAll() {
    github ??= (await import('./github/source.ts')).GithubSource;
  },
  async loadAndCreate(config, context) {
    await SOURCE_REREADERS.load([config]);
    return SOURCE_REREADERS.create(config, context);
  },
};
