import type { ExtensionKind } from '../extensions/definitions.ts';
import type { ExtensionRegistry } from '../extensions/registry.ts';
import { didYouMean } from './did-you-mean.ts';
import type { Pipeline } from './schema.ts';

/** A problem of a parsed pipeline, at a path of the file's value (load.ts adds line and column). */
export interface PipelineIssue {
  readonly path: readonly PropertyKey[];
  readonly message: string;
}

const WHAT: Readonly<Record<ExtensionKind, string>> = {
  validator: 'validator',
  source: 'source connector',
  target: 'target connector',
};

function unknownName(kind: ExtensionKind, name: string, registry: ExtensionRegistry): string {
  const known = registry.names(kind);
  const list =
    known.length > 0
      ? `known: ${known.join(', ')}`
      : `no extension module registers one (define${kind === 'source' ? 'Source' : 'Target'} in extensions/*.ts)`;
  return `unknown ${WHAT[kind]} "${name}"; ${list}${didYouMean(name, known)}`;
}

function connectorIssues(
  side: 'source' | 'target',
  config: { readonly type: string; readonly connector?: string; readonly options?: unknown },
  registry: ExtensionRegistry,
): PipelineIssue[] {
  if (config.type !== 'custom' || config.connector === undefined) return [];
  const definition =
    side === 'source' ? registry.source(config.connector) : registry.target(config.connector);
  if (!definition)
    return [{ path: [side, 'connector'], message: unknownName(side, config.connector, registry) }];
  return definition
    .checkOptions(config.options)
    .map(({ path, message }) => ({ path: [side, 'options', ...path], message }));
}

/**
 * What a pipeline names that the extensions do not hold: a `validation[].custom` validator, a
 * custom source or target connector, or connector options its schema refuses. Checked where
 * pipelines are loaded for esync validate, synth and the local stack, against the extensions
 * loaded there; the functions run with the same modules bundled in.
 */
export function extensionIssues(pipeline: Pipeline, registry: ExtensionRegistry): PipelineIssue[] {
  const issues: PipelineIssue[] = [];
  for (const [index, rule] of pipeline.validation.entries())
    if (rule.custom !== undefined && registry.validators.get(rule.custom) === undefined)
      issues.push({
        path: ['validation', index, 'custom'],
        message: unknownName('validator', rule.custom, registry),
      });
  issues.push(...connectorIssues('source', pipeline.source, registry));
  issues.push(...connectorIssues('target', pipeline.target, registry));
  return issues;
}
