import { SOURCE_CONNECTORS } from '../../shared/connectors/sources/registry.ts';
import { TARGET_CONNECTORS } from '../../shared/connectors/targets/registry.ts';
import { SchemaDriftError } from '../../shared/errors.ts';
import { METRIC } from '../../shared/lambda/observability.ts';
import { discoverInputSchema } from '../../shared/usecases/contracts.ts';
import { discover } from '../../shared/usecases/phases/1-discover.ts';
import { phaseHandler } from '../phase-handler.ts';

export const handler = phaseHandler(
  'discover',
  discoverInputSchema,
  (deps, input) => discover(deps, input),
  { sources: SOURCE_CONNECTORS, targets: TARGET_CONNECTORS },
  (outcome) => ({
    [METRIC.schemaDrift]:
      'result' in outcome
        ? (outcome.result.schemaDrift ?? 0)
        : outcome.error instanceof SchemaDriftError
          ? outcome.error.changes
          : 0,
  }),
);
