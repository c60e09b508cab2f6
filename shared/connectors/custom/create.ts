import { ConfigError } from '../../errors.ts';
import { installedExtensions } from '../../extensions/installed.ts';
import type { SourceConfig, TargetConfig } from '../../pipeline/schema.ts';
import type { ConnectorContext, SourceConnector, TargetConnector } from '../types.ts';

type Custom<C> = Extract<C, { type: 'custom' }>;

function missing(side: 'source' | 'target', name: string, known: readonly string[]): ConfigError {
  // esync validate and synth refuse such a pipeline; reaching here means a bundle without the module.
  return new ConfigError(
    `no extension registers the ${side} connector "${name}" in this function (registered: ${known.join(', ') || 'none'}); synthesize and deploy with the extension module in place`,
  );
}

/** The source an extension registers under `config.connector`, created from the pipeline's options. */
export function createCustomSource(config: Custom<SourceConfig>, context: ConnectorContext): SourceConnector {
  const extensions = context.extensions ?? installedExtensions();
  const definition = extensions.source(config.connector);
  if (!definition) throw missing('source', config.connector, extensions.names('source'));
  return definition.create(config.options, context);
}

/** The target an extension registers under `config.connector`, created from the pipeline's options. */
export function createCustomTarget(config: Custom<TargetConfig>, context: ConnectorContext): TargetConnector {
  const extensions = context.extensions ?? installedExtensions();
  const definition = extensions.target(config.connector);
  if (!definition) throw missing('target', config.connector, extensions.names('target'));
  return definition.create(config.options, context);
}
