import type { SourceConfig } from '../../pipeline/schema.ts';
import type { ConnectorContext, SourceRereader } from '../types.ts';
import { GithubSource } from './github/source.ts';

/** Whether a pipeline's source has an API that answers for one record, so Load reads ties again there. */
export function rereadsAtSource(config: SourceConfig): config is Extract<SourceConfig, { type: 'github' }> {
  return config.type === 'github';
}

/**
 * The re-reader of a source whose API answers for one record (GitHub), or `undefined` for a
 * source without one. Load imports this registry alone, so its bundle carries no database driver.
 */
export function createRereader(config: SourceConfig, context: ConnectorContext): SourceRereader | undefined {
  return rereadsAtSource(config) ? new GithubSource(config, context) : undefined;
}
